import Foundation
import Synchronization
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// States a misbehaving peer can send, each refused or stored-and-reported,
/// never a trap and never silent loss (replication-model §2.5, §3.3).
@Suite("Hostile slot states", .timeLimit(.minutes(3)))
struct HostileStateTests {
    private let key = SlotKey(collection: "countries", record: "xx", field: "name")

    private func state(_ replica: ReplicaID, _ counter: UInt64, value: Value = .text("X")) -> SlotState {
        SlotState(versions: [Version(dot: Dot(replica: replica, counter: counter), hlc: HLC(millis: 1, logical: 0), author: "h", value: value)],
                  context: VersionContext([(replica, counter)]))
    }

    @Test func aCounterAbove2To63IsRefusedNotATrap() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let own = try store.replicaID
        for replica in [replica(3), own] {
            for counter in [UInt64(1) << 63, UInt64.max] {
                #expect(throws: StoreError.self) {
                    try store.apply([SlotChange(key: key, state: state(replica, counter))], from: replica)
                }
            }
        }
        #expect(try store.highestSeq() == 0)
        #expect(try store.replicaID == own)
    }

    @Test func ourOwnIdWithACounterWeNeverIssuedGivesUsANewIdAndLosesNothing() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let old = try store.replicaID
        // A context entry only, no version: the case that silently lost the next write.
        let hostile = SlotState(versions: [], context: VersionContext([(old, 1_000)]))
        let report = try store.apply([SlotChange(key: key, state: hostile)], from: replica(4))
        let renewed = try #require(report.renewedReplica)
        #expect(renewed != old)
        #expect(try store.replicaID == renewed)
        let receipt = try store.create(ref("countries/yy"), [.set("name", .text("Kept"))], author: "ana")
        #expect(receipt.dot?.replica == renewed)
        // A peer that saw the hostile context still takes our new write.
        let peer = try dir.store("peer.db")
        try peer.apply([SlotChange(key: key, state: hostile)], from: replica(4))
        _ = try pull(into: peer, from: store)
        #expect(try peer.record(ref("countries/yy"))?.value("name") == .text("Kept"))
        let log = try store.read { try String.fetchAll($0, sql: "SELECT reason FROM sync_replica_log ORDER BY started_at, rowid") }
        #expect(log.contains { $0.contains("counter 1000 above ours") })
    }

    /// A peer that learns each new id and claims it again cannot make us
    /// renew (and every peer re-pull our feed) more than once per interval.
    @Test func renewalsForcedByPeersAreRateLimited() throws {
        let dir = TemporaryDirectory()
        let now = Mutex<UInt64>(1_767_225_600_000)
        var options = Store.Options()
        options.wallClock = { now.withLock { $0 } }
        let store = try dir.store(options: options)
        let first = try store.replicaID
        let renewed = try #require(try store.apply([SlotChange(key: key, state: state(first, 50))], from: replica(4)).renewedReplica)
        now.withLock { $0 += 60_000 }
        // Claimed again a minute later: refused whole, the id stays.
        #expect(throws: StoreError.self) { try store.apply([SlotChange(key: key, state: state(renewed, 50))], from: replica(4)) }
        #expect(try store.replicaID == renewed)
        #expect(try !store.slotState(key).versions.contains { $0.dot.replica == renewed })
        // Local writes go on under the id, above anything stored.
        #expect(try store.create(ref("countries/yy"), [.set("name", .text("Y"))], author: "ana").dot?.replica == renewed)
        // After the interval, the evidence renews again.
        now.withLock { $0 += options.ownIdRenewalIntervalMillis }
        #expect(try store.apply([SlotChange(key: key, state: state(renewed, 50))], from: replica(4)).renewedReplica != nil)
        #expect(try store.replicaID != renewed)
    }

    @Test func theLargestCounterStillLetsLocalWritesGoOn() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let old = try store.replicaID
        let report = try store.apply([SlotChange(key: key, state: state(old, UInt64(Int64.max)))], from: replica(4))
        #expect(report.renewedReplica != nil)
        let receipt = try store.create(ref("countries/yy"), [.set("name", .text("Y"))], author: "ana")
        #expect(receipt.dot?.counter == 1)
        // A damaged file whose counter is at the end: a new id, no trap.
        try store.withWriteTransaction { try $0.setMeta(MetaKey.counter, Int64.max) }
        let after = try store.update(ref("countries/yy"), [.set("name", .text("Z"))], author: "ana")
        #expect(after.dot?.counter == 1)
        #expect(after.dot?.replica != receipt.dot?.replica)
    }

    @Test func aNulInASlotNameIsRefused() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let nul = SlotKey(collection: "countries", record: "x\u{0}y", field: "name")
        #expect(throws: StoreError.self) { try store.apply([SlotChange(key: nul, state: state(replica(3), 1))], from: replica(3)) }
        let member = SlotKey(collection: "minerals", record: "li", field: "uses", element: "a\u{0}")
        #expect(throws: StoreError.self) { try store.apply([SlotChange(key: member, state: state(replica(3), 1, value: .bool(true)))], from: replica(3)) }
        #expect(try store.highestSeq() == 0)
    }

    @Test func invalidRecordIdsAndAnExistsMemberAreStoredAndReported() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let keys = [SlotKey(collection: "countries", record: "a/b", field: "name"),
                    SlotKey(collection: "countries", record: "", field: "name"),
                    SlotKey(collection: "countries", record: String(repeating: "k", count: 1_000), field: "name"),
                    SlotKey(collection: "countries", record: "ok", field: SlotKey.existsField, element: "m")]
        let changes = keys.map { SlotChange(key: $0, state: state(replica(3), 1, value: $0.field == SlotKey.existsField ? .bool(true) : .text("X"))) }
        let report = try store.apply(changes, from: replica(3))
        #expect(report.changed == 4)
        #expect(report.schemaProblems == 4)
        let problems = try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sync_schema_problems") }
        #expect(problems == 4)
        // The `_exists` member does not make the record exist.
        #expect(try store.record(ref("countries/ok"))?.exists != true)
    }

    @Test func oversizedValuesAreRefusedOnReceiptAndOnLocalWrites() throws {
        let dir = TemporaryDirectory()
        var options = Store.Options()
        options.receiveLimits.maxTextBytes = 1_000
        let store = try dir.store(options: options)
        let big = String(repeating: "x", count: 1_001)
        #expect(throws: StoreError.self) { try store.apply([SlotChange(key: key, state: state(replica(3), 1, value: .text(big)))], from: replica(3)) }
        #expect(throws: StoreError.self) { try store.create(ref("countries/zz"), [.set("name", .text(big))], author: "ana") }
        let fits = String(repeating: "x", count: 1_000)
        try store.create(ref("countries/zz"), [.set("name", .text(fits))], author: "ana")
    }
}

/// Found by the import fuzzer (Fuzz/fuzz-import): values that did not read back as written.
@Suite("Values read back as written", .timeLimit(.minutes(3)))
struct ReadBackTests {
    @Test func aNulInsideATextValueIsRefusedLocallyAndFromPeers() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        #expect(throws: StoreError.self) { try store.create(ref("countries/fr"), [.set("name", .text("France")), .set("notes", .text("a\u{0}b"))], author: "ana") }
        let key = SlotKey(collection: "countries", record: "fr", field: "notes")
        let dot = Dot(replica: replica(3), counter: 1)
        let state = SlotState(versions: [Version(dot: dot, hlc: HLC(millis: 1, logical: 0), author: "p", value: .text("a\u{0}b"))], context: VersionContext([(replica(3), 1)]))
        #expect(throws: StoreError.self) { try store.apply([SlotChange(key: key, state: state)], from: replica(3)) }
    }

    @Test func aMemberWithAByteOrderMarkAndAnEscapedCharacterListsWhole() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let member = "\u{0B}\u{FEFF}x"
        try store.create(ref("minerals/c"), [.set("name", .text("t")), .add("uses", member)], author: "ana")
        let listed = try store.list("minerals").first { $0.ref == ref("minerals/c") }
        #expect(listed?.members["uses"].map { $0.map { Array($0.utf8) } } == [Array(member.utf8)])
        // Every escape the writer makes, and the surrogate pairs a hand-edited row may hold.
        for members in [["\"q\"", "back\\slash", "tab\tnew\nline\r", "\u{01}\u{1F}", "é", "😀"], ["\u{FEFF}"]] {
            #expect(CollectionViews.parseJSONArray(CollectionViews.jsonArray(members)).map { Array($0.utf8) } == members.map { Array($0.utf8) })
        }
        #expect(CollectionViews.parseJSONArray(#"["\ud83d\ude00", "\u00e9\/"]"#) == ["😀", "é/"])
    }
}
