import PropertyBased
import Testing
import SyncSimulation
import TestSupport
@testable import SyncCore

/// Random writes on 3–5 replicas, states gossiped through intermediaries and
/// delivered in random order with duplicates: every replica must end identical.
@Suite("Convergence of simulated replicas", .timeLimit(.minutes(3)))
struct ConvergenceSimulationTests {
    static let keys: [SlotKey] = (0..<3).flatMap { record -> [SlotKey] in
        let id = "r\(record)"
        return [
            SlotKey(collection: "agreements", record: id, field: "_exists"),
            SlotKey(collection: "agreements", record: id, field: "title"),
            SlotKey(collection: "agreements", record: id, field: "status"),
            SlotKey(collection: "agreements", record: id, field: "parties", element: "countries/cn"),
            SlotKey(collection: "agreements", record: id, field: "parties", element: "countries/zw"),
        ]
    }

    /// Interprets generated integers as writes, captures, syncs and deliveries.
    static func run(replicaCount: Int, ops: [Int]) -> [SimulatedReplica] {
        var replicas = (0..<replicaCount).map { SimulatedReplica(id: replica($0)) }
        var network: [[SlotKey: SlotState]] = []
        var wall: UInt64 = 1_000_000
        var rng = SeededRandom(seed: UInt64(bitPattern: Int64(ops.reduce(replicaCount) { $0 &* 31 &+ $1 })))
        for op in ops {
            wall += UInt64(op % 3)
            let i = (op / 10) % replicaCount
            let j = (op / 100) % replicaCount
            switch op % 10 {
            case 0...4:
                // A transaction of 1–3 slots on one record, like a local edit.
                let record = (op / 1_000) % 3
                var writes: [(SlotKey, Value)] = []
                for n in 0...(op / 3_000 % 3) {
                    let key = keys[record * 5 + (op / 7 + n) % 5]
                    let value: Value = key.element.isEmpty && key.field != "_exists"
                        ? .text("v\((op / 11 + n) % 3)") : .bool((op / 13 + n) % 3 != 0)
                    if !writes.contains(where: { $0.0 == key }) { writes.append((key, value)) }
                }
                replicas[i].write(writes, wall: wall)
            case 5, 6:
                network.append(replicas[i].slots)  // a message in flight
            case 7, 8:
                replicas[j].merge(replicas[i].slots, wall: wall)  // through an intermediary
            default:
                if !network.isEmpty { replicas[i].merge(network[Int(rng.next() % UInt64(network.count))], wall: wall) }
            }
        }
        // Final delivery: every message and every replica's final state reach every
        // replica, each in its own order, some twice.
        let finals = replicas.map(\.slots)
        for index in replicas.indices {
            var inbox = network + finals
            inbox += inbox.filter { _ in rng.next() % 3 == 0 }
            inbox.shuffle(using: &rng)
            for message in inbox { replicas[index].merge(message, wall: wall) }
        }
        return replicas
    }

    static let opsGen = Gen.int(in: 0...1_000_000).array(of: 1...80)

    @Test func anyDeliveryOrderWithDuplicatesConverges() async {
        await propertyCheck(count: 300, input: Gen.int(in: 3...5), Self.opsGen) { count, ops in
            let replicas = Self.run(replicaCount: count, ops: ops)
            for other in replicas.dropFirst() {
                #expect(other.slots == replicas[0].slots)
                #expect(other.digest == replicas[0].digest)
            }
        }
    }

    @Test func convergedReplicasReadTheSameValuesAndConflicts() async {
        await propertyCheck(count: 200, input: Gen.int(in: 3...5), Self.opsGen) { count, ops in
            let replicas = Self.run(replicaCount: count, ops: ops)
            for key in Self.keys {
                let readings = replicas.map { SlotReader.scalar($0.slots[key] ?? .empty) }
                #expect(Set(readings).count == 1)
                let presence = replicas.map { SlotReader.memberPresent($0.slots[key] ?? .empty) }
                #expect(Set(presence).count == 1)
            }
        }
    }

    @Test func noWriteIsLostUnlessItsWriterOrALaterWriterSawIt() async {
        await propertyCheck(count: 200, input: Gen.int(in: 3...5), Self.opsGen) { count, ops in
            let replicas = Self.run(replicaCount: count, ops: ops)
            let final = replicas[0].slots
            // Every live version is covered, and every version a replica ever held is
            // either still live or covered by the final context (superseded, not dropped).
            for (key, state) in final {
                #expect(state.satisfiesInvariant)
                for other in replicas {
                    for version in other.slots[key]?.versions ?? [] {
                        #expect(state.versions.contains(version) || state.context.covers(version.dot))
                    }
                }
            }
        }
    }
}
