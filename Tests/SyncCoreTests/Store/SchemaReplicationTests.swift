import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// The schema replicates like data (docs/schema.md): a field added on one
/// replica reaches the others with its SQL column; data for it may come first;
/// disagreeing additions conflict everywhere and resolve like any conflict.
@Suite("Schema replication through the store", .timeLimit(.minutes(3)))
struct SchemaReplicationTests {
    static let valueUSD = SchemaEvolution.Change.addField(collection: "agreements", field: "value_usd", type: "decimal", values: [], targets: [], description: nil)
    static let truce = ref("agreements/us-cn-trade-truce-2025")

    func column(_ store: Store, _ table: String, _ column: String) throws -> [String] {
        try store.pool.read { db in try db.columns(in: table).map(\.name) }.filter { $0 == column }
    }

    @Test func anAddedFieldArrivesWithItsColumnAndItsData() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        try a.changeSchema(Self.valueUSD, author: "ana")
        try a.update(Self.truce, [.set("value_usd", .text("1500000000"))], author: "ana")
        #expect(try column(a, "agreements", "value_usd").count == 1)
        try pull(into: b, from: a)
        #expect(b.schema.collection("agreements")?.field("value_usd")?.type == .decimal)
        #expect(try column(b, "agreements", "value_usd").count == 1)
        #expect(try b.record(Self.truce)?.value("value_usd") == .text("1500000000"))
        let sqlValue = try b.pool.read { db in try String.fetchOne(db, sql: "SELECT value_usd FROM agreements WHERE id = ?", arguments: [Self.truce.id]) }
        #expect(sqlValue == "1500000000")
        #expect(try a.digest() == b.digest())
        #expect(try b.schemaProblems().isEmpty)
        // Reopened, the store holds the same schema (read from its records).
        let reopened = try Store(path: dir.path("b.db"))
        #expect(reopened.schema.hash == b.schema.hash)
    }

    /// Data for a field this replica does not know yet is stored, reported,
    /// and shows up when the schema change arrives, with no further sync.
    @Test func dataBeforeItsSchemaIsKeptAndShowsWhenTheSchemaArrives() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), c = try dir.store("c.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: c, from: a)
        try a.changeSchema(Self.valueUSD, author: "ana")
        try a.update(Self.truce, [.set("value_usd", .text("42"))], author: "ana")
        let all = try a.changes(since: 0, maxCount: 100_000, maxBytes: 1 << 30)
        let data = all.changes.filter { $0.key.collection != SchemaEvolution.collection }
        let schema = all.changes.filter { $0.key.collection == SchemaEvolution.collection }
        _ = try c.apply(data, from: try a.replicaID)
        #expect(c.schema.collection("agreements")?.field("value_usd") == nil)
        #expect(try c.schemaProblems().contains { $0.key.field == "value_usd" })
        #expect(try column(c, "agreements", "value_usd").isEmpty)
        _ = try c.apply(schema, from: try a.replicaID)
        #expect(try c.record(Self.truce)?.value("value_usd") == .text("42"))
        let sqlValue = try c.pool.read { db in try String.fetchOne(db, sql: "SELECT value_usd FROM agreements WHERE id = ?", arguments: [Self.truce.id]) }
        #expect(sqlValue == "42")
        #expect(try c.schemaProblems().isEmpty)
    }

    @Test func disagreeingAdditionsConflictEverywhereAndResolve() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        try a.changeSchema(Self.valueUSD, author: "ana")
        try b.changeSchema(.addField(collection: "agreements", field: "value_usd", type: "text", values: [], targets: [], description: nil), author: "ben")
        try pull(into: b, from: a)
        try pull(into: a, from: b)
        for store in [a, b] {
            #expect(store.schema.collection("agreements")?.field("value_usd") == nil)
            #expect(store.effectiveSchema.problems.contains { $0.isConflict && $0.field == "type" })
            #expect(try store.conflicts(in: SchemaEvolution.collection).map(\.key.field) == ["type"])
        }
        #expect(try a.digest() == b.digest())
        let conflict = try #require(try a.conflicts(in: SchemaEvolution.collection).first)
        try a.resolve(conflict.key, expecting: conflict.siblings.map(\.dot), value: .text("decimal"), author: "ana")
        try pull(into: b, from: a)
        for store in [a, b] {
            #expect(store.schema.collection("agreements")?.field("value_usd")?.type == .decimal)
            #expect(store.effectiveSchema.problems.isEmpty)
            #expect(try column(store, "agreements", "value_usd").count == 1)
        }
    }

    @Test func aDestructiveChangeIsRefusedAndNothingIsWritten() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        try a.seed(SeedData.criticalMinerals())
        let before = try a.highestSeq()
        #expect(throws: StoreError.self) {
            try a.changeSchema(.addField(collection: "countries", field: "name", type: "integer", values: [], targets: [], description: nil), author: "ana")
        }
        #expect(throws: StoreError.self) { try a.changeSchema(.addValue(collection: "countries", field: "region", value: "asia"), author: "ana") }
        #expect(try a.highestSeq() == before)
        #expect(a.schema.hash == a.seedSchema.hash)
    }

    /// Two replicas with the same data but not the same schema do not report equal digests.
    @Test func theDigestCoversTheSchema() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        #expect(try a.digest() == b.digest())
        try a.changeSchema(.describe(collection: "countries", field: nil, description: "States"), author: "ana")
        #expect(try a.digest() != b.digest())
    }
}

/// A schema changed by another process (syncctl beside a running syncd).
@Suite("Schema changed by another process", .timeLimit(.minutes(3)))
struct SchemaChangedElsewhereTests {
    @Test func aStoreOpenBeforeTheChangeWritesAndReadsWithTheNewSchema() throws {
        let dir = TemporaryDirectory()
        let daemon = try dir.store("a.db")
        try daemon.seed(SeedData.criticalMinerals())
        let cli = try Store(path: dir.path("a.db"))
        try cli.changeSchema(SchemaReplicationTests.valueUSD, author: "ana")
        // The other store has not looked yet; its next write sees the new table shape.
        #expect(daemon.schema.collection("agreements")?.field("value_usd") == nil)
        try daemon.update(SchemaReplicationTests.truce, [.set("status", .text("suspended"))], author: "ana")
        #expect(daemon.schema.collection("agreements")?.field("value_usd") != nil)
        // And a merge into a store that has not looked either.
        let other = try Store(path: dir.path("b.db"))
        try pull(into: other, from: daemon)
        let stale = try Store(path: dir.path("b.db"))
        try Store(path: dir.path("b.db")).changeSchema(.addField(collection: "countries", field: "iso3", type: "text", values: [], targets: [], description: nil), author: "ben")
        try daemon.update(ref("countries/cn"), [.set("notes", .text("after"))], author: "ana")
        _ = try pull(into: stale, from: daemon)
        #expect(try stale.record(ref("countries/cn"))?.value("notes") == .text("after"))
        try stale.refreshSchemaIfChanged()
        #expect(stale.schema.collection("countries")?.field("iso3") != nil)
    }
}
