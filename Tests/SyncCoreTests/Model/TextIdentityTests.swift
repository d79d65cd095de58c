import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// "é" as one scalar (NFC) and as "e" + U+0301 (NFD): equal to Swift's
/// `String ==`, different bytes to the store, the wire and the digest.
private let nfc = "caf\u{E9}"
private let nfd = "cafe\u{301}"

@Suite("Identity of text: compared as UTF-8 bytes (replication-model §2.4)", .timeLimit(.minutes(3)))
struct TextIdentityTests {
    @Test func theTwoSpellingsAreOneStringToSwiftButNotToUs() {
        #expect(nfc == nfd)  // the trap: canonical equivalence
        #expect(!UTF8Identity.equal(nfc, nfd))
        #expect(SlotKey(collection: "minerals", record: "x", field: "uses", element: nfc)
                != SlotKey(collection: "minerals", record: "x", field: "uses", element: nfd))
        #expect(Set([UTF8Key(nfc), UTF8Key(nfd)]).count == 2)
        #expect(Value.text(nfc) != Value.text(nfd))
        let dot = Dot(replica: replica(1), counter: 1)
        #expect(Version(dot: dot, hlc: .zero, author: nfc, value: .null) != Version(dot: dot, hlc: .zero, author: nfd, value: .null))
        // Byte order, as SQLite's BINARY collation sorts.
        #expect(UTF8Identity.less("Z", "a"))
        #expect(UTF8Identity.less(nfd, nfc))  // 'e' (0x65) < 0xC3
        #expect(!UTF8Identity.less(nfc, nfc))
    }

    /// The schema finds a collection or a field by its name's bytes: a
    /// name a peer sends in another spelling is unknown, never taken for it.
    @Test func theSchemaLooksNamesUpByTheirBytes() {
        let collection = CollectionSchema(name: nfc, fields: [FieldSchema(name: nfc, type: .text)])
        let schema = Schema(name: "t", version: 1, collections: [collection])
        #expect(schema.collection(nfc)?.name == nfc)
        #expect(schema.collection(nfd) == nil)
        #expect(collection.field(nfc) != nil && collection.position(of: nfc) == 0)
        #expect(collection.field(nfd) == nil && collection.position(of: nfd) == nil)
    }

    @Test func aBatchKeepsBothSpellingsOfAMemberAndAnAuthor() throws {
        let dot = Dot(replica: replica(1), counter: 1)
        let context = VersionContext([(replica(1), 1)])
        func change(_ member: String, author: String) -> SlotChange {
            SlotChange(key: SlotKey(collection: "minerals", record: "lithium", field: "uses", element: member),
                       state: SlotState(versions: [Version(dot: dot, hlc: HLC(millis: 1, logical: 0), author: author, value: .bool(true))], context: context))
        }
        let changes = [change(nfc, author: nfd), change(nfd, author: nfc)]
        let message = SyncMessage.repairBatch(changes: changes, last: true)
        let decoded = try SyncMessageCodec.decode(SyncMessageCodec.encode(message))
        guard case .repairBatch(let back, _) = decoded else { Issue.record("not a repair batch"); return }
        #expect(back.count == 2)
        #expect(Array(back[0].key.element.utf8) == Array(nfc.utf8))
        #expect(Array(back[1].key.element.utf8) == Array(nfd.utf8))
        #expect(Array(back[0].state.versions[0].author.utf8) == Array(nfd.utf8))
        #expect(Array(back[1].state.versions[0].author.utf8) == Array(nfc.utf8))
    }

    @Test func theStoreKeepsTwoSlotsAndReplicasConverge() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        let b = try dir.store("b.db")
        let dot = Dot(replica: replica(1), counter: 1)
        let context = VersionContext([(replica(1), 1)])
        let state = SlotState(versions: [Version(dot: dot, hlc: HLC(millis: 1, logical: 0), author: "p", value: .bool(true))], context: context)
        let nfcKey = SlotKey(collection: "minerals", record: "lithium", field: "uses", element: nfc)
        let nfdKey = SlotKey(collection: "minerals", record: "lithium", field: "uses", element: nfd)
        try a.apply([SlotChange(key: nfcKey, state: state)], from: replica(1))
        try a.apply([SlotChange(key: nfdKey, state: state)], from: replica(1))
        try b.apply([SlotChange(key: nfdKey, state: state), SlotChange(key: nfcKey, state: state)], from: replica(1))
        let slots = try a.read { try $0.storedSlots(RecordRef(collection: "minerals", id: "lithium")) }
        #expect(slots.count == 2)
        #expect(try a.digest() == b.digest())
        let view = try #require(try a.read { try RecordView.load(RecordRef(collection: "minerals", id: "lithium"), from: $0) })
        #expect(view.presentMembers("uses").count == 2)
    }

    @Test func membersTypedLocallyBecomeNFC() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.seed(SeedData.criticalMinerals())
        let lithium = try #require(try store.read { db in
            try String.fetchOne(db, sql: "SELECT record FROM sync_records WHERE collection = 'minerals' LIMIT 1")
        })
        try store.update(RecordRef(collection: "minerals", id: lithium), [.add("uses", nfd)], author: "ana")
        let view = try #require(try store.read { try RecordView.load(RecordRef(collection: "minerals", id: lithium), from: $0) })
        let members = view.presentMembers("uses").filter { $0 == nfc }
        #expect(members.count == 1)
        #expect(Array(members[0].utf8) == Array(nfc.utf8))
    }
}
