import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// syncd writes a collection table row by its record's id (`INSERT OR
/// REPLACE`), so `id` must be the table's primary key alone, declared TEXT
/// and compared as bytes. A table made again by another program otherwise
/// (no key: a second row per record; `COLLATE NOCASE`: "CN" replaces "cn")
/// is named by `syncctl check`, and `--repair` makes it again from the
/// replicated state, keeping queued SQL edits (replication-model §4.5, §8).
@Suite("Collection tables keyed by id as bytes", .timeLimit(.minutes(3)))
struct CollectionTableKeyTests {
    /// Makes `countries` again as `declare` rewrites its declaration, with its rows.
    func remakeCountries(_ store: Store, _ declare: (String) -> String) throws {
        try store.withWriteTransaction { db in
            let sql = try #require(try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'countries'"))
            try db.execute(sql: "ALTER TABLE countries RENAME TO countries_before")
            try db.execute(sql: declare(sql))
            try db.execute(sql: "INSERT INTO countries SELECT * FROM countries_before")
            try db.execute(sql: "DROP TABLE countries_before")
        }
    }

    static let declaredID = "id TEXT PRIMARY KEY NOT NULL"

    /// `countries` declared otherwise, by kind.
    static func declaration(_ kind: String, _ sql: String) -> String {
        switch kind {
        case "no key": sql.replacingOccurrences(of: declaredID, with: "\"id\" TEXT NOT NULL")
        case "NOCASE": sql.replacingOccurrences(of: declaredID, with: "\"id\" TEXT COLLATE NOCASE PRIMARY KEY NOT NULL")
        case "INT": sql.replacingOccurrences(of: declaredID, with: "id INT PRIMARY KEY NOT NULL")
        default: sql.replacingOccurrences(of: declaredID, with: "\"id\" TEXT NOT NULL")
                .replacingOccurrences(of: "conflicted INTEGER NOT NULL DEFAULT 0", with: "conflicted INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(id, name)")
        }
    }

    @Test(arguments: ["no key", "NOCASE", "INT", "two columns"])
    func aTableKeyedOtherwiseIsNamedAndMadeAgain(_ kind: String) throws {
        let declare = { Self.declaration(kind, $0) }
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        try a.seed(SeedData.criticalMinerals())
        let digest = try a.digest()
        let countries = try a.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM countries") ?? 0 }
        // An SQL edit queued (by a client, triggers on) before the table is made again.
        let client = try DatabaseQueue(path: dir.url.appendingPathComponent("a.db").path)
        try client.write { db in try db.execute(sql: "UPDATE countries SET notes = 'queued before' WHERE id = 'de'") }
        try client.close()
        #expect(try a.sqlEdits(refusedOnly: false).count == 1)
        try remakeCountries(a, declare)
        let declared = try a.read { db in try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'countries'") }
        #expect(declared != nil && !(declared ?? "").contains(Self.declaredID), "\(declared ?? "")")
        let layout = try a.layoutProblems()
        #expect(layout.collectionTables == ["countries"], "\(kind): \(layout)")
        #expect(layout.collectionTableProblems.count == 1 && layout.collectionTableProblems[0].contains("its table countries"), "\(layout)")
        #expect(!layout.rulesOutRepair && !layout.isEmpty)

        #expect(try a.rebuildCollectionTables(["countries"]) == ["countries"])
        #expect(try a.layoutProblems().isEmpty)
        #expect(try a.viewDrift().count == 0)
        #expect(try a.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM countries") } == countries)
        #expect(try a.digest() == digest, "the replicated state is not touched")
        // The queued edit is still there, and the triggers are back: a client's write queues again.
        #expect(try a.sqlEdits(refusedOnly: false).count == 1)
        let again = try DatabaseQueue(path: dir.url.appendingPathComponent("a.db").path)
        try again.write { db in try db.execute(sql: "UPDATE countries SET notes = 'queued after' WHERE id = 'fr'") }
        try again.close()
        #expect(try a.sqlEdits(refusedOnly: false).count == 2)
        // Nothing left to make again.
        #expect(try a.rebuildCollectionTables(["countries"]) == [])
    }

    /// What a NOCASE key does, which the check guards against: a record
    /// whose id differs only in case replaces another's row.
    @Test func aNocaseKeyLosesARowThatARebuildBringsBack() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        try a.seed(SeedData.criticalMinerals())
        try remakeCountries(a) { $0.replacingOccurrences(of: Self.declaredID, with: "\"id\" TEXT COLLATE NOCASE PRIMARY KEY NOT NULL") }
        try a.create(ref("countries/CN"), [.set("name", .text("China, in capitals"))], author: "ana")
        let drift = try a.viewDrift()
        #expect(drift.drift.contains { $0.ref.id == "cn" || $0.ref.id == "CN" }, "\(drift)")
        try a.rebuildCollectionTables(["countries"])
        #expect(try a.viewDrift().count == 0)
        #expect(try a.read { db in try String.fetchAll(db, sql: "SELECT id FROM countries WHERE id IN ('cn', 'CN') ORDER BY id") } == ["CN", "cn"])
    }

    /// The primary key as syncd declares it, or WITHOUT ROWID, is sound;
    /// a UNIQUE index that takes in `id` compared otherwise than as bytes
    /// is named (it holds "cn" and "CN" as one).
    @Test func soundKeysPassAndAUniqueIndexOnIDNocaseIsNamed() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        try a.seed(SeedData.criticalMinerals())
        #expect(try a.layoutProblems().isEmpty)
        try remakeCountries(a) { $0 + " WITHOUT ROWID" }
        #expect(try a.layoutProblems().collectionTables == [])
        try a.withWriteTransaction { db in try db.execute(sql: "CREATE UNIQUE INDEX ids_any_case ON minerals(id COLLATE NOCASE)") }
        let layout = try a.layoutProblems()
        #expect(layout.uniqueIndexes.count == 1 && layout.uniqueIndexes[0].contains("ids_any_case"), "\(layout)")
    }
}
