import Testing
@testable import SyncCore

/// The reader's rules of replication-model §2, on concurrent writes of two or three replicas.
@Suite("What a reader sees", .timeLimit(.minutes(3)))
struct ReaderSemanticsTests {
    let title = SlotKey(collection: "agreements", record: "a1", field: "title")
    let exists = SlotKey(collection: "agreements", record: "a1", field: "_exists")
    let member = SlotKey(collection: "agreements", record: "a1", field: "parties", element: "countries/cn")

    func replicas(_ count: Int) -> [SimulatedReplica] {
        (0..<count).map { SimulatedReplica(id: replica($0)) }
    }

    func exchange(_ replicas: inout [SimulatedReplica]) {
        let states = replicas.map(\.slots)
        for index in replicas.indices { for state in states { replicas[index].merge(state) } }
    }

    @Test func concurrentDifferentValuesConflictWithADeterministicWinner() {
        var r = replicas(2)
        r[0].write([(title, .text("one"))], wall: 100)
        r[1].write([(title, .text("two"))], wall: 200)
        exchange(&r)
        let readings = r.map { SlotReader.scalar($0.slots[title]!) }
        #expect(readings[0] == readings[1])
        #expect(readings[0].isConflicted)
        #expect(readings[0].value == .text("two"))  // higher hlc wins
        #expect(Set(readings[0].siblings.map(\.value)) == [.text("one"), .text("two")])
    }

    @Test func equalConcurrentValuesAreNoConflict() {
        var r = replicas(3)
        for index in 0..<3 { r[index].write([(title, .text("same"))], wall: 100 + UInt64(index)) }
        exchange(&r)
        let reading = SlotReader.scalar(r[0].slots[title]!)
        #expect(!reading.isConflicted)
        #expect(reading.value == .text("same"))
        #expect(r[0].slots[title]!.versions.count == 3)
    }

    @Test func deleteConcurrentWithEditIsAConflictOnEveryReplica() {
        var r = replicas(3)
        r[0].write([(exists, .bool(true)), (title, .text("t"))], wall: 100)
        exchange(&r)
        r[1].write([(exists, .bool(false))], wall: 200)                      // delete
        r[2].write([(exists, .bool(true)), (title, .text("edited"))], wall: 150)  // concurrent edit
        exchange(&r)
        for replica in r {
            let existence = SlotReader.exists(replica.slots[exists]!)
            #expect(existence.isConflicted)
            #expect(Set(existence.siblings.map(\.value)) == [.bool(true), .bool(false)])
            #expect(SlotReader.scalar(replica.slots[title]!).value == .text("edited"))
        }
    }

    @Test func addConcurrentWithRemoveKeepsTheMember() {
        var r = replicas(2)
        r[0].write([(member, .bool(true))], wall: 100)
        exchange(&r)
        r[0].write([(member, .bool(false))], wall: 300)  // remove, later in time
        r[1].write([(member, .bool(true))], wall: 200)   // concurrent re-add
        exchange(&r)
        for replica in r { #expect(SlotReader.memberPresent(replica.slots[member]!)) }
    }

    @Test func aRemoveThatSawTheAddRemovesTheMember() {
        var r = replicas(2)
        r[0].write([(member, .bool(true))], wall: 100)
        exchange(&r)
        r[1].write([(member, .bool(false))], wall: 200)
        exchange(&r)
        for replica in r { #expect(!SlotReader.memberPresent(replica.slots[member]!)) }
    }

    @Test func resolutionSupersedesExactlyTheSiblingsShown() {
        var r = replicas(4)
        r[0].write([(title, .text("a"))], wall: 100)
        r[1].write([(title, .text("b"))], wall: 110)
        r[2].merge(r[0].slots)
        r[2].merge(r[1].slots)
        let shown = SlotReader.scalar(r[2].slots[title]!)
        #expect(shown.isConflicted)
        // Meanwhile replica 3 writes concurrently, unseen by the resolver.
        r[3].write([(title, .text("d"))], wall: 120)
        r[2].write([(title, .text("resolved"))], wall: 130)
        exchange(&r)
        let final = r[0].slots[title]!
        #expect(Set(final.versions.map(\.value)) == [.text("resolved"), .text("d")])
        for sibling in shown.siblings { #expect(!final.versions.contains(sibling)) }
    }
}
