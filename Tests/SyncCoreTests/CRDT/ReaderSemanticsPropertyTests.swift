import PropertyBased
import Testing
import SyncSimulation
import TestSupport
@testable import SyncCore

/// replication-model §2 reader rules as properties: over 2–5 replicas, random clocks,
/// random roles and random delivery orders with duplicates.
@Suite("What a reader sees, as properties", .timeLimit(.minutes(3)))
struct ReaderSemanticsPropertyTests {
    static let title = SlotKey(collection: "agreements", record: "a1", field: "title")
    static let exists = SlotKey(collection: "agreements", record: "a1", field: "_exists")
    static let member = SlotKey(collection: "agreements", record: "a1", field: "parties", element: "countries/cn")

    /// Every replica receives every other's state, in its own shuffled order, some twice.
    static func deliverAll(_ replicas: inout [SimulatedReplica], seed: Int) {
        var rng = SeededRandom(seed: UInt64(bitPattern: Int64(seed)))
        let states = replicas.map(\.slots)
        for index in replicas.indices {
            var inbox = states + states.filter { _ in rng.next() % 2 == 0 }
            inbox.shuffle(using: &rng)
            for state in inbox { replicas[index].merge(state) }
        }
    }

    /// Replicas that share a created record `a1` with a title and one party.
    static func sharedStart(_ count: Int, seed: Int) -> [SimulatedReplica] {
        var replicas = (0..<count).map { SimulatedReplica(id: replica($0)) }
        replicas[0].write([(exists, .bool(true)), (title, .text("start")), (member, .bool(true))], wall: 1_000)
        deliverAll(&replicas, seed: seed)
        return replicas
    }

    static let scenario = zip(Gen.int(in: 2...5), Gen.int(in: 0...1_000_000), Gen.uint64(in: 0...5_000).array(of: 5))

    @Test func aDeleteConcurrentWithAnEditIsAConflictOnEveryReplica() async {
        await propertyCheck(count: 200, input: Self.scenario) { count, seed, walls in
            var r = Self.sharedStart(count, seed: seed)
            let deleter = seed % count
            let editor = (deleter + 1 + seed / 7 % (count - 1)) % count
            r[deleter].write([(Self.exists, .bool(false))], wall: 2_000 + walls[0])
            r[editor].write([(Self.exists, .bool(true)), (Self.title, .text("edited"))], wall: 2_000 + walls[1])
            Self.deliverAll(&r, seed: seed &+ 1)
            for replica in r {
                let existence = SlotReader.exists(replica.slots[Self.exists]!)
                #expect(existence.isConflicted)
                #expect(Set(existence.siblings.map(\.value)) == [.bool(true), .bool(false)])
                #expect(SlotReader.scalar(replica.slots[Self.title]!).value == .text("edited"))
            }
        }
    }

    @Test func anAddConcurrentWithARemoveKeepsTheMember() async {
        await propertyCheck(count: 200, input: Self.scenario) { count, seed, walls in
            var r = Self.sharedStart(count, seed: seed)
            let remover = seed % count
            let adder = (remover + 1 + seed / 7 % (count - 1)) % count
            r[remover].write([(Self.member, .bool(false))], wall: 2_000 + walls[0])  // any time, even later
            r[adder].write([(Self.member, .bool(true))], wall: 2_000 + walls[1])
            Self.deliverAll(&r, seed: seed &+ 1)
            for replica in r { #expect(SlotReader.memberPresent(replica.slots[Self.member]!)) }
        }
    }

    @Test func equalConcurrentValuesAreNoConflict() async {
        await propertyCheck(count: 200, input: Self.scenario) { count, seed, walls in
            var r = Self.sharedStart(count, seed: seed)
            let writers = 2 + seed % (count - 1)
            for index in 0..<writers { r[index].write([(Self.title, .text("same"))], wall: 2_000 + walls[index]) }
            Self.deliverAll(&r, seed: seed &+ 1)
            for replica in r {
                let reading = SlotReader.scalar(replica.slots[Self.title]!)
                #expect(!reading.isConflicted)
                #expect(reading.value == .text("same"))
            }
        }
    }

    @Test func differentConcurrentValuesConflictWithTheSameWinnerEverywhere() async {
        await propertyCheck(count: 200, input: Self.scenario) { count, seed, walls in
            var r = Self.sharedStart(count, seed: seed)
            r[0].write([(Self.title, .text("zero"))], wall: 2_000 + walls[0])
            r[1].write([(Self.title, .text("one"))], wall: 2_000 + walls[1])
            Self.deliverAll(&r, seed: seed &+ 1)
            let readings = r.map { SlotReader.scalar($0.slots[Self.title]!) }
            #expect(Set(readings).count == 1)
            #expect(readings[0].isConflicted)
            let expected = readings[0].siblings.max { Version.winsOver($1, $0) }
            #expect(readings[0].winner == expected)
        }
    }

    @Test func resolutionSupersedesExactlyTheSiblingsShown() async {
        await propertyCheck(count: 200, input: Self.scenario) { count, seed, walls in
            guard count >= 3 else { return }
            var r = Self.sharedStart(count, seed: seed)
            r[0].write([(Self.title, .text("a"))], wall: 2_000 + walls[0])
            r[1].write([(Self.title, .text("b"))], wall: 2_000 + walls[1])
            let resolver = 2
            r[resolver].merge(r[0].slots)
            r[resolver].merge(r[1].slots)
            let shown = SlotReader.scalar(r[resolver].slots[Self.title]!).siblings
            // Other replicas may write concurrently with the resolution, unseen by the resolver.
            let late = count > 3 ? Array(3..<count) : []
            for index in late { r[index].write([(Self.title, .text("late\(index)"))], wall: 2_000 + walls[index % 5]) }
            r[resolver].write([(Self.title, .text("resolved"))], wall: 3_000 + walls[2])
            Self.deliverAll(&r, seed: seed &+ 1)
            for replica in r {
                let final = replica.slots[Self.title]!
                for sibling in shown { #expect(!final.versions.contains(sibling)) }
                #expect(Set(final.versions.map(\.value)) == Set([.text("resolved")] + late.map { .text("late\($0)") }))
            }
        }
    }
}
