import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// A peer may write fields this replica's schema does not know
/// (replication-model §8): stored, relayed, listed as schema problems. Two
/// such versions in conflict are a conflict like any other, so an analyst
/// can settle it, by picking one of them (nothing here could check a new
/// value); and every conflict shows, even two whose names differ only in
/// normalization.
@Suite("Conflicts in fields the schema does not know", .timeLimit(.minutes(2)))
struct UnknownFieldConflictTests {
    let record = ref("agreements/green-minerals-initiative")

    /// `field` of `record` written concurrently by two peers with `values`.
    func conflicted(_ field: String, _ values: [String], into store: Store) throws -> [Version] {
        let key = SlotKey(collection: record.collection, record: record.id, field: field)
        var state = SlotState.empty
        var versions: [Version] = []
        for (index, value) in values.enumerated() {
            let version = Version(dot: Dot(replica: .random(), counter: 1), hlc: HLC(millis: 1_000 + UInt64(index), logical: 0),
                                  author: "peer\(index)", value: .text(value))
            versions.append(version)
            state = SlotMerge.merge(state, SlotMerge.write(version, over: .empty))
        }
        _ = try store.apply([SlotChange(key: key, state: state)], from: versions[0].dot.replica, cursor: nil)
        return versions
    }

    @Test func aConflictInAPeersFieldIsSettledByPickingAndReplicates() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        _ = try pull(into: b, from: a)
        let versions = try conflicted("budget", ["12 bn", "15 bn"], into: a)
        let key = SlotKey(collection: record.collection, record: record.id, field: "budget")
        let conflict = try #require(try a.conflict(at: key))
        #expect(try a.record(record)?.isConflicted == true)
        let collection = try a.schema.requireCollection(record.collection)

        // A value nobody proposed is refused, here and in the shared chooser;
        // so is one that only looks like a proposal (NFD of an NFC sibling).
        #expect(throws: StoreError.self) { try a.resolve(key, expecting: conflict.siblings.map(\.dot), value: .text("13 bn"), author: "ana") }
        #expect(throws: StoreError.self) { try ResolutionChoice.value(for: conflict, pick: nil, typed: .text("13 bn"), schema: collection) }
        let lookalike = try conflicted("currency", ["\u{E9}cu", "ecu"], into: a)
        let currency = SlotKey(collection: record.collection, record: record.id, field: "currency")
        #expect(throws: StoreError.self) {
            try a.resolve(currency, expecting: lookalike.map(\.dot), value: .text("e\u{301}cu"), author: "ana")
        }
        #expect(try a.conflictCount() == 2)

        // Picking settles it, and the resolution reaches a peer.
        let picked = try ResolutionChoice.value(for: conflict, pick: 2, typed: nil, schema: collection)
        #expect(picked == conflict.siblings[1].value)
        try a.resolve(key, expecting: conflict.siblings.map(\.dot), value: picked, author: "ana")
        try a.resolve(currency, expecting: lookalike.map(\.dot), value: .text("\u{E9}cu"), author: "ana")
        #expect(try a.conflictCount() == 0)
        #expect(try a.record(record)?.isConflicted == false)
        #expect(try a.record(record)?.scalar("budget")?.value == picked)
        _ = try pull(into: b, from: a)
        #expect(try b.digest() == a.digest())
        #expect(try b.conflictCount() == 0)
        #expect(Set(versions.map(\.value)).contains(picked))
    }

    /// A field unknown here because its definition is withheld (two
    /// definitions of its type in conflict) waits for that to be settled: a
    /// value picked now might break the rules it then gets.
    @Test func aFieldWhoseDefinitionIsWithheldIsNotSettledByPicking() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.seed(SeedData.criticalMinerals())
        let definition = SlotKey(collection: SchemaEvolution.collection, record: "f.agreements.budget", field: "type")
        let peers = [ReplicaID.random(), ReplicaID.random()]
        let types = SlotState(versions: zip(peers, ["integer", "text"]).map { peer, type in
            Version(dot: Dot(replica: peer, counter: 1), hlc: HLC(millis: 900, logical: 0), author: "peer", value: .text(type))
        }, context: VersionContext(peers.map { ($0, 1) }))
        _ = try store.apply([SlotChange(key: definition, state: types)], from: peers[0])
        #expect(try store.schema.requireCollection("agreements").field("budget") == nil)
        let versions = try conflicted("budget", ["12", "twelve"], into: store)
        let key = SlotKey(collection: record.collection, record: record.id, field: "budget")
        #expect(throws: SchemaError.withheldField(field: "budget", definition: "_schema/f.agreements.budget")) {
            try store.resolve(key, expecting: versions.map(\.dot), value: .text("twelve"), author: "ana")
        }
        #expect(try store.conflicts().contains { $0.key == key })
    }

    @Test func everyConflictedFieldShowsEvenWhenTwoNamesLookAlike() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.seed(SeedData.criticalMinerals())
        // KELVIN SIGN and K, é as one scalar and as e + combining acute:
        // equal as Swift strings, four fields here.
        let names = ["\u{212A}ind", "Kind", "r\u{E9}gime", "re\u{301}gime"]
        for name in names { _ = try conflicted(name, ["one", "two"], into: store) }
        let view = try #require(try store.record(record))
        let json = RecordJSON(view, schema: try store.schema.requireCollection(record.collection), devices: [:])
        #expect(json.unknownFieldConflicts.map { Array($0.field.utf8) } == names.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(json.unknownFieldConflicts.allSatisfy { $0.versions.count == 2 })
        #expect(json.conflicts.isEmpty)
        // What a JSON reader gets: four entries, each name's bytes as sent.
        let encoded = try JSONEncoder().encode(json)
        let object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        let listed = try #require(object["unknownFieldConflicts"] as? [[String: Any]])
        #expect(listed.count == 4)
        #expect(Set(listed.compactMap { ($0["field"] as? String).map { Array($0.utf8) } }).count == 4)
        #expect(try store.conflictCount() == 4)
    }
}
