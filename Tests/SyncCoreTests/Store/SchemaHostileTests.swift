import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// Regressions from an adversarial review of the replicated schema: names a
/// peer chooses that collide with the names the store derives, pending SQL
/// edits of a field that becomes withheld, a rolled-back schema change, a
/// retype by a dominating write (docs/schema.md, replication-model §8.2).
@Suite("Schema: hostile names and orders", .serialized, .timeLimit(.minutes(3)))
struct SchemaHostileTests {
    static func addField(_ collection: String, _ field: String, _ type: String, values: [String] = [], targets: [String] = []) -> SchemaEvolution.Change {
        .addField(collection: collection, field: field, type: type, values: values, targets: targets, description: nil)
    }

    static func mallory(_ items: [(String, String, String, Value)], counter start: UInt64 = 1) -> [SlotChange] {
        let wall = UInt64(Date().timeIntervalSince1970 * 1000)
        let mallory = ReplicaID(high: 7, low: 7)
        return items.enumerated().map { offset, item in
            let counter = start + UInt64(offset)
            let version = Version(dot: Dot(replica: mallory, counter: counter), hlc: HLC(millis: wall, logical: 0), author: "mallory", value: item.3)
            return SlotChange(key: SlotKey(collection: item.0, record: item.1, field: item.2),
                              state: SlotState(versions: [version], context: VersionContext([(mallory, counter)])))
        }
    }

    /// Collection names whose derived names (queue `_new`/`_pending`,
    /// triggers `_refuse_…`, indexes `X_by_F`) would collide are withheld on
    /// every replica alike, in one batch or many, and never stop an apply or an open.
    @Test func derivedNameCollisionsAreWithheldEverywhereAlike() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db"), c = try dir.store("c.db")
        for store in [a, b, c] { try store.seed(SeedData.criticalMinerals()) }
        try a.changeSchema(.addCollection(name: "mines", description: nil), author: "ana")
        try a.changeSchema(.addCollection(name: "mm", description: nil), author: "ana")
        try a.changeSchema(Self.addField("mm", "kind", "enum", values: ["x"]), author: "ana")
        for name in ["mines_pending", "agreements_pending", "mines_new", "countries_refuse", "mm_by_kind"] {
            #expect(throws: SchemaError.self) { try a.changeSchema(.addCollection(name: name, description: nil), author: "ana") }
        }
        let hostile = Self.mallory(["mines_pending", "agreements_pending", "mines_new", "countries_refuse", "mm_by_kind"].map {
            ("_schema", "c.\($0)", "description", Value.text("x")) })
        _ = try a.apply(hostile, from: nil, cursor: nil)
        try pull(into: b, from: a, batchSize: 100_000)
        try pull(into: c, from: a, batchSize: 1)
        for store in [b, c] {
            #expect(store.schema.hash == a.schema.hash)
            #expect(try store.digest() == a.digest())
        }
        #expect(a.schemaDefinitionProblems.count == 5)
        #expect(try Store(path: dir.path("c.db")).schema.hash == a.schema.hash)
        // The triggers of countries are its own: a bad insert is still refused.
        let sql = try DatabaseQueue(path: dir.path("a.db"))
        #expect(throws: (any Error).self) { try sql.write { try $0.execute(sql: "INSERT INTO countries(id, name, conflicted) VALUES ('_bad', 'x', 1)") } }
        // An edit queued for mines survives a field added to mines.
        try sql.write { try $0.execute(sql: "INSERT INTO mines(id) VALUES ('m1')") }
        try a.changeSchema(Self.addField("mines", "stage", "text"), author: "ana")
        _ = try a.takeUpSQLEdits(author: "ana")
        #expect(try a.record(ref("mines/m1"))?.exists == true)
    }


    /// A waiting SQL edit of a field that a conflicting definition then
    /// withholds is refused, the value it wrote named in the reason.
    @Test func aWaitingSQLEditOfAFieldThatBecomesWithheldIsRefusedWithItsValue() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        try a.changeSchema(Self.addField("agreements", "value_usd", "decimal"), author: "ana")
        let sql = try DatabaseQueue(path: dir.path("a.db"))
        try sql.write { try $0.execute(sql: "UPDATE agreements SET value_usd = '99' WHERE id = 'us-cn-trade-truce-2025'") }
        #expect(try a.hasPendingSQLEdits())
        try b.changeSchema(Self.addField("agreements", "value_usd", "text"), author: "ben")
        try pull(into: a, from: b)
        _ = try a.takeUpSQLEdits(author: "ana")
        let conflict = try #require(try a.conflicts(in: SchemaEvolution.collection).first)
        try a.resolve(conflict.key, expecting: conflict.siblings.map(\.dot), value: .text("decimal"), author: "ana")
        let value = try a.read { try String.fetchOne($0, sql: "SELECT value_usd FROM agreements WHERE id = 'us-cn-trade-truce-2025'") }
        let counts = try a.sqlEditCounts()
        #expect(value == nil && counts.refused == 1)
        #expect(try a.sqlEdits().first?.reason?.contains("value_usd='99'") == true)
    }


    /// A dominating `type` write (older or hostile software) is obeyed like
    /// any write, and every replica rebuilds the column alike.
    @Test func aRetypeByADominatingWriteLeavesEqualTables() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try a.changeSchema(Self.addField("countries", "code", "text"), author: "ana")
        try pull(into: b, from: a)
        // An older/hostile client: a plain write of `type`.
        _ = try a.localTransaction(author: "old-client") { tx in
            try tx.write(SlotKey(collection: SchemaEvolution.collection, record: "f.countries.code", field: "type"), .text("integer"))
        }
        try a.update(ref("countries/cn"), [.set("code", .int(5))], author: "ana")
        try pull(into: b, from: a)
        let c = try dir.store("c.db")
        try pull(into: c, from: a)
        func cell(_ s: Store) throws -> String? { try s.read { try String.fetchOne($0, sql: "SELECT quote(code) || ':' || typeof(code) FROM countries WHERE id = 'cn'") } }
        _ = try b.repairViews()
        #expect(try cell(b) == cell(c))
    }


    /// Field names beginning with '_' (`_exists` among them) are refused.
    @Test func underscoreFieldNamesAreRefused() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        try a.seed(SeedData.criticalMinerals())
        #expect(throws: SchemaError.self) { try a.changeSchema(Self.addField("countries", "_exists", "text"), author: "ana") }
        // A peer's record for one is withheld, not obeyed.
        _ = try a.apply(Self.mallory([("_schema", "f.countries._exists", "type", .text("text"))]), from: nil, cursor: nil)
        #expect(a.schema.collection("countries")?.field("_exists") == nil && a.schemaDefinitionProblems.count == 1)
    }

    /// A transaction that adopts a schema change and then fails leaves the
    /// store's schema as it was (it changes on commit only).
    @Test func aRolledBackSchemaChangeLeavesTheSchemaAsItWas() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        try a.changeSchema(.addCollection(name: "mines", description: nil), author: "ana")
        try a.update(ref("countries/cn"), [.set("notes", .text("boom"))], author: "ana")
        // Something after the schema is adopted fails (here: an analyst's
        // expression index whose error is SQLite's "too big", which no row
        // is held back for; think SQLITE_FULL at commit). (A plain error or
        // a constraint's only holds that row back, replication-model §8.)
        let sql = try DatabaseQueue(path: dir.path("b.db"))
        try sql.write { try $0.execute(sql: "CREATE INDEX boom ON countries(CASE WHEN notes = 'boom' THEN zeroblob(2000000000) ELSE 0 END)") }
        #expect(throws: (any Error).self) { try pull(into: b, from: a, batchSize: 1_000) }
        #expect(try !b.read { try $0.tableExists("mines") })
        #expect(b.schema.collection("mines") == nil)
        // Once the obstacle is gone, the same change applies and the schema follows.
        try sql.write { try $0.execute(sql: "DROP INDEX boom") }
        try pull(into: b, from: a)
        #expect(try b.read { try $0.tableExists("mines") } && b.schema.collection("mines") != nil)
    }

    /// A hostile list is bounded before any work: a 16,000-value enum is withheld at once.
    @Test func hugeListsAreWithheldUnread() {
        let list = CollectionViews.jsonArray((0..<16_000).map { "v\($0)" })
        let record = SchemaEvolution.Record(id: "f.countries.stage", scalars: ["type": [.text("enum")], "values": [.text(list)]])
        let out = SchemaEvolution.effective(seed: .criticalMinerals, records: [record])
        #expect(out.schema.collection("countries")?.field("stage") == nil && out.problems.count == 1)
        var more = SchemaEvolution.Record(id: "f.countries.region", sets: ["more_values": (0..<5_000).map { "w\($0)" }])
        more.scalars = [:]
        let grown = SchemaEvolution.effective(seed: .criticalMinerals, records: [more]).schema.collection("countries")?.field("region")?.values ?? []
        #expect(grown.count == SchemaEvolution.Limits.listEntries)
        #expect(Array(grown.prefix(3)) == Array((Schema.criticalMinerals.collection("countries")?.field("region")?.values ?? []).prefix(3)))
    }
}
