import ArgumentParser
import Foundation
import SyncCore
import SyncSimulation
import TestSupport

/// Benchmark 5: ten daemons in a random 3-regular graph, 1,000 concurrent
/// writes spread over them; time from the last write until every digest is
/// equal, and bytes on the wire per write per link.
struct ConvergenceBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "converge",
        abstract: "Ten syncd in a random graph of degree 3: time to equal digests after concurrent writes, and bytes per write per link.",
        discussion: "Example: swift run -c release syncbench converge --daemons 10 --writes 1000")

    @Option(help: "Daemons (an even number: each has exactly three peers).") var daemons = 10
    @Option(help: "Writes, spread evenly over the daemons and made concurrently.") var writes = 1_000
    @Option(help: "Synthetic records every daemon starts with.") var records = 1_000
    @Option(help: "Repetitions; min and median are printed.") var repetitions = 3
    @Option(help: "Seed of the random graph and writes.") var seed: UInt64 = 42

    func run() async throws {
        var rng = SeededRandom(seed: seed)
        let edges = try Self.regularGraph(nodes: daemons, degree: 3, rng: &rng)
        print("converge: \(daemons) daemons, \(edges.count) links (\(edges.map { "\($0.0)-\($0.1)" }.joined(separator: " "))), \(writes) writes, \(repetitions) repetitions")
        var delays: [Double] = [], ratios: [Double] = [], copies: [Double] = []
        for repetition in 1...repetitions {
            let root = TemporaryDirectory("syncbench-converge")
            var nodes: [DaemonProcess] = []
            for index in 0..<daemons {
                let daemon = try await BenchDaemons.prepared("d\(index)", in: root)
                try BenchDaemons.fill(daemon, records: records)
                nodes.append(daemon)
            }
            try connect(edges.map { (nodes[$0.0], nodes[$0.1]) })
            for daemon in nodes { try await daemon.start() }
            for daemon in nodes { try await daemon.waitUntilInSync(timeout: .seconds(120)) }
            let stores = try nodes.map { try $0.store() }
            try await Task.sleep(for: .seconds(1.2))
            let before = try nodes.reduce(UInt64(0)) { $0 + (try BenchDaemons.traffic(of: $1)) }
            let sentBefore = try nodes.reduce(UInt64(0)) { $0 + (try Self.slotsSent(by: $1)) }

            // Each daemon's writer sets a random field of a random record, as `syncctl set` would.
            let perDaemon = writes / daemons
            let plans = (0..<daemons).map { _ in (0..<perDaemon).map { _ in (record: Int(rng.next() % UInt64(records)), status: Int(rng.next() % 5)) } }
            let statuses = ["proposed", "negotiating", "active", "suspended", "expired"]
            let written = try await withThrowingTaskGroup(of: [SlotKey].self) { group in
                for (index, plan) in plans.enumerated() {
                    let store = stores[index], socket = nodes[index].directory.appendingPathComponent("control.sock").path
                    group.addTask {
                        var keys: [SlotKey] = []
                        for (number, write) in plan.enumerated() {
                            let ref = RecordRef(collection: "agreements", id: SyntheticDataset.id(write.record))
                            let edit: FieldEdit = number % 2 == 0 ? .set("status", .text(statuses[write.status])) : .set("title", .text("Title \(index)-\(number)"))
                            _ = try store.update(ref, [edit], author: "d\(index)")
                            LocalWriteNudge.send(controlSocket: socket)
                            if case .set(let field, _) = edit { keys.append(SlotKey(collection: ref.collection, record: ref.id, field: field)) }
                            keys.append(SlotKey(collection: ref.collection, record: ref.id, field: SlotKey.existsField))
                        }
                        return keys
                    }
                }
                return try await group.reduce(into: [SlotKey]()) { $0 += $1 }
            }
            let lastWrite = ContinuousClock.now
            guard try await eventually(timeout: .seconds(120), every: .milliseconds(10), { Set(try stores.map { try $0.digest().hex }).count == 1 }) else {
                throw HarnessError("digests did not converge within 120 s")
            }
            let delay = (ContinuousClock.now - lastWrite).seconds
            try await Task.sleep(for: .seconds(1.2))  // traffic is accounted every 500 ms
            let wire = Double(try nodes.reduce(UInt64(0)) { $0 + (try BenchDaemons.traffic(of: $1)) } - before) / 2
            let slotBytes = try Self.encodedSize(of: written, in: stores[0])
            let perWritePerLink = wire / Double(perDaemon * daemons) / Double(edges.count)
            let slotsPerWrite = Double(written.count) / Double(perDaemon * daemons)
            let ratio = perWritePerLink / (slotBytes / Double(perDaemon * daemons))
            // Each written slot must reach the other daemons once: a slot sent
            // more often than that is a duplicate (the same change by two paths).
            let sent = Double(try nodes.reduce(UInt64(0)) { $0 + (try Self.slotsSent(by: $1)) } - sentBefore)
            let receipts = sent / (Double(written.count) * Double(daemons - 1))
            delays.append(delay)
            ratios.append(ratio)
            copies.append(receipts)
            print("  run \(repetition): equal digests \((delay * 1_000).f0) ms after the last write; \((wire / 1_024).f1) KB on the wire,"
                  + " \(perWritePerLink.f0) bytes per write per link; a write is \(slotsPerWrite.f0) slots of \((slotBytes / Double(perDaemon * daemons)).f0) encoded bytes (ratio \(ratio.f2)x)")
            for daemon in nodes { try await daemon.stop() }
        }
        print("convergence: best \((delays.min()! * 1_000).f0) ms, median \((median(delays) * 1_000).f0) ms after the last write (aim: < 3000 ms)")
        print("bytes per write per link / encoded size of its slots: best \(ratios.min()!.f2)x, median \(median(ratios).f2)x (aim: <= 1.5x; issue 24 at 50 daemons: <= 1.2x)")
        print("slot sends per written slot per daemon reached: median \(median(copies).f2) (1.00: every change reached each daemon once)")
    }

    /// Slots a daemon has sent to all its peers so far.
    static func slotsSent(by daemon: DaemonProcess) throws -> UInt64 {
        try daemon.status().peers.reduce(0) { $0 + $1.slotsSent }
    }

    /// Encoded size (key and state, as in a batch) of the final state of `keys`, summed.
    static func encodedSize(of keys: [SlotKey], in store: Store) throws -> Double {
        var total = 0
        for key in keys {
            var writer = BinaryWriter()
            SlotStateCodec.encode(key, into: &writer)
            SlotStateCodec.encode(try store.slotState(key), into: &writer)
            total += writer.bytes.count
        }
        return Double(total)
    }

    /// A random connected graph where every node has `degree` neighbours (pairing model, retried).
    static func regularGraph(nodes: Int, degree: Int, rng: inout SeededRandom) throws -> [(Int, Int)] {
        guard nodes > degree, (nodes * degree) % 2 == 0 else { throw ValidationError("\(nodes) daemons cannot each have \(degree) peers") }
        for _ in 0..<10_000 {
            var stubs = (0..<nodes).flatMap { Array(repeating: $0, count: degree) }
            for index in stubs.indices.reversed() { stubs.swapAt(index, Int(rng.next() % UInt64(index + 1))) }
            var edges = Set<[Int]>()
            var valid = true
            for pair in stride(from: 0, to: stubs.count, by: 2) {
                let edge = [stubs[pair], stubs[pair + 1]].sorted()
                if edge[0] == edge[1] || !edges.insert(edge).inserted { valid = false; break }
            }
            let list = edges.map { ($0[0], $0[1]) }.sorted { $0 < $1 }
            if valid && Self.isConnected(list, nodes: nodes) { return list }
        }
        throw ValidationError("no random \(degree)-regular graph found")
    }

    static func isConnected(_ edges: [(Int, Int)], nodes: Int) -> Bool {
        var seen: Swift.Set<Int> = [0], frontier = [0]
        while let node = frontier.popLast() {
            for (a, b) in edges where a == node || b == node {
                let other = a == node ? b : a
                if seen.insert(other).inserted { frontier.append(other) }
            }
        }
        return seen.count == nodes
    }
}
