import Foundation
import PropertyBased
import Testing
@testable import SyncCore
import TestSupport

@Suite("Replication through the store: feed, merge, cursors", .timeLimit(.minutes(3)))
struct ReplicationTests {
    @Test func aMergeThatChangesNothingStampsNoSeq() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        let b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try a.update(ref("countries/cn"), [.set("notes", .text("n"))], author: "ana")
        try pull(into: b, from: a)
        let seq = try b.highestSeq()
        let everything = try a.changes(since: 0, maxCount: 10_000, maxBytes: 1 << 30)
        let report = try b.apply(everything.changes, from: try a.replicaID, cursor: everything.cursor)
        #expect(report.changed == 0)
        #expect(report.unchanged == everything.changes.count)
        #expect(try b.highestSeq() == seq)
        // And nothing flows back: b's feed for a is empty of echoes.
        let back = try b.changes(since: 0, maxCount: 10_000, maxBytes: 1 << 30, for: try a.replicaID)
        #expect(back.changes.isEmpty)
        #expect(back.cursor == seq)
    }

    @Test func aMergeThatAddedLocalVersionsIsSentBack() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        let b = try dir.store("b.db")
        try a.create(ref("countries/no"), [.set("name", .text("Norway"))], author: "ana")
        try b.create(ref("countries/no"), [.set("name", .text("Norge"))], author: "ben")
        try pull(into: b, from: a)
        let back = try b.changes(since: 0, maxCount: 100, maxBytes: 1 << 20, for: try a.replicaID)
        #expect(back.changes.contains { $0.key.field == "name" })
        try pull(into: a, from: b)
        #expect(try a.digest() == b.digest())
        #expect(try a.conflicts().map(\.key.field) == ["name"])
    }

    @Test func batchesAreBoundedByCountAndBytes() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.seed(SeedData.criticalMinerals())
        let total = try store.read { try Int.fetchOne($0, sql: "SELECT sum(slot_count) FROM sync_records") ?? 0 }
        // A batch ends on a whole seq (the slots one transaction changed in one record).
        let byCount = try store.changes(since: 0, maxCount: 25, maxBytes: 1 << 30)
        #expect((10...25).contains(byCount.changes.count))
        #expect(byCount.hasMore)
        let byBytes = try store.changes(since: 0, maxCount: 10_000, maxBytes: 2_000)
        #expect(byBytes.bytes <= 2_000)
        #expect(byBytes.changes.count < 100)
        #expect(byBytes.hasMore)
        let oneHuge = try store.changes(since: 0, maxCount: 10, maxBytes: 1)
        #expect(!oneHuge.changes.isEmpty)  // always progress: one seq's slots, all of one record
        #expect(Set(oneHuge.changes.map(\.key.recordRef)).count == 1)
        // Paging through by cursor returns every slot exactly once, in seq order.
        var cursor: UInt64 = 0
        var seen: [SlotKey] = []
        while true {
            let page = try store.changes(since: cursor, maxCount: 37, maxBytes: 3_000)
            seen += page.changes.map(\.key)
            cursor = page.cursor
            if !page.hasMore { break }
        }
        #expect(seen.count == total)
        #expect(Set(seen).count == seen.count)
    }

    @Test func concurrentDeleteAndEditConflictOnEveryReplicaAndResolve() throws {
        let dir = TemporaryDirectory()
        let stores = try (0..<3).map { try dir.store("r\($0).db") }
        for store in stores { try store.seed(SeedData.criticalMinerals()) }
        try stores[0].delete(ref("agreements/us-cn-general-licenses"), author: "ana")
        try stores[1].update(ref("agreements/us-cn-general-licenses"), [.set("status", .text("active"))], author: "ben")
        try fullSync(stores)
        for store in stores {
            let conflicts = try store.conflicts(in: "agreements", record: "us-cn-general-licenses")
            #expect(conflicts.map(\.key.field) == ["_exists"])
            #expect(Set(conflicts[0].siblings.map(\.value)) == [.bool(true), .bool(false)])
            #expect(Set(conflicts[0].siblings.map(\.author)) == ["ana", "ben"])
        }
        let key = SlotKey(collection: "agreements", record: "us-cn-general-licenses", field: "_exists")
        let shown = try stores[2].conflicts(in: "agreements", record: "us-cn-general-licenses")[0].siblings.map(\.dot)
        // An edit elsewhere refuses while existence is in conflict.
        #expect(throws: StoreError.existenceConflicted(ref("agreements/us-cn-general-licenses"))) {
            try stores[2].update(ref("agreements/us-cn-general-licenses"), [.set("terms", .text("x"))], author: "cy")
        }
        // A stale view of the siblings is refused.
        #expect(throws: StoreError.self) {
            try stores[2].resolve(key, expecting: Array(shown.prefix(1)), value: .bool(true), author: "cy")
        }
        try stores[2].resolve(key, expecting: shown, value: .bool(true), author: "cy")
        try fullSync(stores)
        for store in stores {
            #expect(try store.conflictCount() == 0)
            #expect(try store.record(ref("agreements/us-cn-general-licenses"))?.value("status") == .text("active"))
        }
        #expect(Set(try stores.map { try $0.digest() }).count == 1)
    }

    @Test func remoteStatesFailingTheLocalSchemaAreStoredAndReported() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let peer = ReplicaID.random()
        let version = Version(dot: Dot(replica: peer, counter: 1), hlc: HLC(millis: 1_000, logical: 0), author: "newer", value: .text("x"))
        let unknown = SlotChange(key: SlotKey(collection: "agreements", record: "a", field: "budget"), state: SlotMerge.write(version, over: .empty))
        let badEnum = SlotChange(key: SlotKey(collection: "agreements", record: "a", field: "status"), state: SlotMerge.write(version, over: .empty))
        let newCollection = SlotChange(key: SlotKey(collection: "mines", record: "m", field: "name"), state: SlotMerge.write(version, over: .empty))
        let report = try store.apply([unknown, badEnum, newCollection], from: peer, cursor: 3)
        #expect(report.changed == 3)
        #expect(report.schemaProblems == 3)
        let problems = try store.schemaProblems()
        #expect(problems.map(\.key.field).sorted() == ["budget", "name", "status"])
        #expect(problems.allSatisfy { $0.peer == peer })
        let feed = try store.changes(since: 0, maxCount: 10, maxBytes: 1 << 20)
        #expect(feed.changes.count == 3)  // kept and relayed onwards
        #expect(try store.cursor(for: peer) == 3)
    }

    @Test func versionsFromTheFutureAreStoredCountedAndNamed() throws {
        let dir = TemporaryDirectory()
        var options = Store.Options()
        options.wallClock = { 1_800_000_000_000 }
        let store = try dir.store(options: options)
        let peer = ReplicaID.random()
        let future = HLC(millis: 1_800_000_000_000 + 3_600_000, logical: 0)
        let version = Version(dot: Dot(replica: peer, counter: 1), hlc: future, author: "skewed", value: .text("X"))
        let change = SlotChange(key: SlotKey(collection: "countries", record: "x", field: "name"), state: SlotMerge.write(version, over: .empty))
        let report = try store.apply([change], from: peer, cursor: 1)
        #expect(report.futureVersions == 1)
        let clockReports = try store.clockReports()
        #expect(clockReports.map(\.peer) == [peer])
        #expect(clockReports.first?.maxAheadMillis == 3_600_000)
        // The local clock did not jump to the future: the next local write stays within the drift cap.
        let receipt = try store.create(ref("countries/y"), [.set("name", .text("Y"))], author: "a")
        #expect(try #require(receipt.hlc).millis <= 1_800_000_000_000 + HybridClock.defaultMaxDriftMillis)
    }

    /// The slots of a batch come in their row's order, which is not fixed:
    /// two stores given the same batch in different orders end with the
    /// same clock, so their next writes carry the same reading (one receive
    /// per version made the clock depend on the order): past the highest
    /// reading (logical 9), the batch moves it once, the write once more.
    @Test func theClockAfterABatchDoesNotDependOnItsOrder() async throws {
        let wall: UInt64 = 1_800_000_000_000
        let peer = ReplicaID(high: 3, low: 4)
        let versions = (0..<6).map { index in
            SlotChange(key: SlotKey(collection: "countries", record: "x", field: ["name", "notes", "region", "iso2", "iso3", "_exists"][index]),
                       state: SlotMerge.write(Version(dot: Dot(replica: peer, counter: UInt64(index + 1)),
                                                      hlc: HLC(millis: wall, logical: UInt16([5, 0, 9, 2, 7, 1][index])), author: "p",
                                                      value: index == 5 ? .bool(true) : .text("v\(index)")), over: .empty))
        }
        await propertyCheck(count: 20, input: Gen.int(in: 0...719)) { permutation in
            var remaining = versions
            var order: [SlotChange] = []
            var code = permutation
            while !remaining.isEmpty {
                order.append(remaining.remove(at: code % remaining.count))
                code /= max(1, remaining.count + 1)
            }
            let readings = try! [versions, order].map { batch -> HLC? in
                let dir = TemporaryDirectory()
                var options = Store.Options()
                options.wallClock = { wall }
                let store = try dir.store(options: options)
                _ = try store.apply(batch, from: peer, cursor: 6)
                return try store.create(RecordRef(collection: "countries", id: "y"), [.set("name", .text("Y"))], author: "a").hlc
            }
            #expect(readings[0] == readings[1] && readings[0] == HLC(millis: wall, logical: 11), "\(readings)")
        }
    }

    @Test func aDatabaseOpenedByAnotherDeviceTakesANewReplicaID() throws {
        let dir = TemporaryDirectory()
        let first = try dir.store(deviceID: "DEVICE-A").replicaID
        let again = try dir.store(deviceID: "DEVICE-A").replicaID
        #expect(first == again)
        let copied = try dir.store(deviceID: "DEVICE-B")
        #expect(try copied.replicaID != first)
        #expect(try copied.deviceID == "DEVICE-B")
    }

    @Test func ownVersionsComingBackNeverCauseADotToBeReissued() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let me = try store.replicaID
        let version = Version(dot: Dot(replica: me, counter: 40), hlc: HLC(millis: 1_000, logical: 0), author: "me", value: .text("old"))
        try store.apply([SlotChange(key: SlotKey(collection: "countries", record: "z", field: "name"), state: SlotMerge.write(version, over: .empty))], from: ReplicaID.random())
        // Dot 40 of our id was never ours: someone else writes under it, so
        // the store takes a new id rather than guess which counters are free.
        let receipt = try store.create(ref("countries/w"), [.set("name", .text("W"))], author: "me")
        #expect(receipt.dot?.replica != me)
        #expect(receipt.dot?.counter == 1)
    }
}

/// Pulls between every ordered pair until no store changes.
func fullSync(_ stores: [Store], batchSize: Int = 50) throws {
    for _ in 0..<3 {
        for target in stores {
            for source in stores where source !== target { try pull(into: target, from: source, batchSize: batchSize) }
        }
    }
}
