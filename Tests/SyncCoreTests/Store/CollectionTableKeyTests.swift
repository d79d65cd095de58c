import Foundation
import GRDB
import PropertyBased
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

    /// A store of the seeded dataset in a directory of its own.
    func seeded() throws -> (TemporaryDirectory, Store) {
        let dir = TemporaryDirectory()
        let store = try dir.store("a.db")
        try store.seed(SeedData.criticalMinerals())
        return (dir, store)
    }

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
        let (dir, a) = try seeded()
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
        let (dir, a) = try seeded()
        defer { _ = dir }   // kept to the end: its files are the store's
        try remakeCountries(a) { $0.replacingOccurrences(of: Self.declaredID, with: "\"id\" TEXT COLLATE NOCASE PRIMARY KEY NOT NULL") }
        try a.create(ref("countries/CN"), [.set("name", .text("China, in capitals"))], author: "ana")
        let drift = try a.viewDrift()
        #expect(drift.drift.contains { $0.ref.id == "cn" || $0.ref.id == "CN" }, "\(drift)")
        try a.rebuildCollectionTables(["countries"])
        #expect(try a.viewDrift().count == 0)
        #expect(try a.read { db in try String.fetchAll(db, sql: "SELECT id FROM countries WHERE id IN ('cn', 'CN') ORDER BY id") } == ["CN", "cn"])
    }

    /// `countries` declared from genes: its key (and the key's collation
    /// apart from the column's), the type and collation of `id`, the
    /// `notes` column, a constraint or column of one's own, STRICT,
    /// WITHOUT ROWID, and an index of one's own. Nil when SQLite would
    /// refuse the declaration.
    static func declaration(genes: [Int]) -> (table: String, index: String?)? {
        // Each gene keeps syncd's choice five times in six, so that one
        // difference at a time is common (and no rule hides behind another).
        func pick<T>(_ gene: Int, _ sound: T, _ others: [T]) -> T { gene % 6 == 0 ? others[gene / 6 % others.count] : sound }
        let key = pick(genes[0], 1, [0, 2, 3, 4, 5])
        let type = pick(genes[1], "TEXT", ["text", "INT", "", "VARCHAR(8)", "BLOB", "ANY"])
        // Key 4 is the column's collation apart from the key's: NOCASE on
        // the column, BINARY on the key (`WHERE id = ?` goes by the column's).
        let collation = key == 4 ? " COLLATE NOCASE" : pick(genes[2], "", [" COLLATE BINARY", " COLLATE NOCASE", " COLLATE RTRIM"])
        let withoutRowID = pick(genes[3], false, [true])
        let index: String? = pick(genes[4], nil, ["CREATE UNIQUE INDEX mine ON countries(id COLLATE NOCASE)", "CREATE UNIQUE INDEX mine ON countries(name)",
                                                  "CREATE UNIQUE INDEX mine ON countries(id, name)", "CREATE UNIQUE INDEX mine ON countries(id COLLATE RTRIM, region)",
                                                  "CREATE INDEX mine ON countries(id COLLATE NOCASE)", "CREATE UNIQUE INDEX mine ON countries(lower(id))",
                                                  "CREATE UNIQUE INDEX mine ON countries(id COLLATE NOCASE, name)"])
        // (A default is left alone: syncd's writes give every column.)
        let notes = pick(genes[5], "\"notes\" TEXT", ["\"notes\" TEXT NOT NULL", "\"notes\" TEXT DEFAULT 'none'", "\"notes\" INTEGER",
                                                        "\"notes\" TEXT CHECK (notes IS NULL OR notes NOT LIKE 'zzz%')", "\"notes\" TEXT COLLATE NOCASE"])
        let more: String? = pick(genes[6], nil, ["mine TEXT", "shout TEXT AS (upper(name))", "CHECK (length(id) < 3)", "\"check\" TEXT",
                                                 "-- don't\n CHECK (notes IS NULL OR notes NOT LIKE 'zzz%')", "UNIQUE (name)", "/* check's later */ UNIQUE (id, name)"])
        let strict = pick(genes[7], false, [true])
        if key == 0 && withoutRowID { return nil }
        if strict && !["TEXT", "text", "INT", "BLOB", "ANY"].contains(type) { return nil }
        var columns = ["id \(type)\(collation)\(key == 1 ? " PRIMARY KEY" : "") NOT NULL", "\"name\" TEXT", "\"region\" TEXT", "\"role\" TEXT",
                       notes, "conflicted INTEGER NOT NULL DEFAULT 0"]
        if let more { columns.append(more) }
        if key == 2 { columns.append("PRIMARY KEY(id, name)") }
        if key == 3 { columns.append("PRIMARY KEY(name, id)") }
        if key == 4 { columns.append("PRIMARY KEY(id COLLATE BINARY)") }
        // Key 5: the key's collation alone (the column's is BINARY).
        if key == 5 { columns.append("PRIMARY KEY(id COLLATE NOCASE)") }
        let options = [withoutRowID ? "WITHOUT ROWID" : nil, strict ? "STRICT" : nil].compactMap { $0 }.joined(separator: ", ")
        return ("CREATE TABLE countries(\(columns.joined(separator: ", ")))\(options.isEmpty ? "" : " " + options)", index)
    }

    /// The search behind the check, both ways: for any declaration of the
    /// table and any writes (ids that differ only in case or by leading
    /// zeros, notes cleared or refused by a CHECK), when `check` finds
    /// nothing wrong with the table, syncd's writes succeed and leave it
    /// exactly the replicated state; when it names the table, a rebuild
    /// leaves nothing to name and the same holds after it.
    @Test func whenTheCheckFindsNothingTheTableStaysExact() async throws {
        // Ids a local write accepts (letters, digits, '-', '_', '.').
        let ids = ["cn", "CN", "Cn", "12", "012", "de", "DE"]
        await propertyCheck(count: 200, input: Gen.int(in: 0...1_000).array(of: 8...8), Gen.int(in: 0...1_000_000).array(of: 1...25)) { genes, ops in
            guard let (table, index) = Self.declaration(genes: genes) else { return }
            let dir = TemporaryDirectory()
            let a = try! dir.store("a.db")
            try! a.seed(SeedData.criticalMinerals())
            do {
                try a.withWriteTransaction { db in
                    try db.execute(sql: "ALTER TABLE countries RENAME TO countries_before")
                    try db.execute(sql: table)
                    let columns = ["id", "name", "region", "role", "notes", "conflicted"].joined(separator: ", ")
                    // (A NOT NULL notes column takes the seed's empty notes as '': already not their state.)
                    let selected = table.contains("\"notes\" TEXT NOT NULL") ? columns.replacingOccurrences(of: "notes", with: "coalesce(notes, '')") : columns
                    try db.execute(sql: "INSERT INTO countries(\(columns)) SELECT \(selected) FROM countries_before")
                    try db.execute(sql: "DROP TABLE countries_before")
                    if let index { try db.execute(sql: index) }
                }
            } catch { return }   // a declaration SQLite refuses with the seed's rows in it
            func write(_ ops: [Int]) -> [String] {
                var failed: [String] = []
                for op in ops {
                    let ref = RecordRef(collection: "countries", id: ids[op % ids.count])
                    let notes: Value = [.null, .text("zzz\(op)"), .text("v\(op)"), .text("V\(op)")][op / 7 % 4]
                    do {
                        switch op / 28 % 3 {
                        case 0: try a.create(ref, [.set("name", .text("n\(op)")), .set("notes", notes)], author: "ana")
                        case 1: try a.update(ref, [.set("notes", notes)], author: "ana")
                        default: try a.delete(ref, author: "ana")
                        }
                    } catch let error as DatabaseError {
                        failed.append("\(ref): \(error)")
                    } catch {
                        // Refused before the table is written (no such record): not the table's doing.
                    }
                }
                return failed
            }
            let layout = try! a.layoutProblems()
            let named = !layout.collectionTables.isEmpty || !layout.uniqueIndexes.isEmpty
            let failed = write(ops)
            let drift = try! a.viewDrift().count
            if !named {
                #expect(failed.isEmpty && drift == 0, "\(table); \(index ?? "no index"): the check found nothing, yet \(failed) / \(drift) drifted rows")
            }
            if !layout.collectionTables.isEmpty {
                #expect(try! a.rebuildCollectionTables(layout.collectionTables) == ["countries"])
                let after = try! a.layoutProblems()
                let driftAfter = try! a.viewDrift().count
                #expect(after.isEmpty && driftAfter == 0, "\(table): a rebuild left \(after)")
                let failedAfter = write(ops.reversed())
                let driftLast = try! a.viewDrift().count
                #expect(failedAfter.isEmpty && driftLast == 0, "\(table): writes after the rebuild: \(failedAfter)")
            }
        }
    }

    /// Every table syncd makes passes, fields added later (`ALTER TABLE …
    /// ADD COLUMN`) of every type included, and after a store opened again.
    @Test func tablesSyncdMakesPassWithFieldsAddedOfEveryType() throws {
        let (dir, a) = try seeded()
        #expect(try a.layoutProblems().isEmpty)
        for (name, type) in [("t", "text"), ("i", "integer"), ("d", "decimal"), ("dt", "date"), ("b", "bool"), ("r", "ref"), ("s", "set:text"), ("sr", "set:ref")] {
            let targets = type.hasSuffix("ref") ? ["countries"] : []
            try a.changeSchema(.addField(collection: "countries", field: "x_\(name)", type: type, values: [], targets: targets, description: nil), author: "ana")
        }
        try a.changeSchema(.addField(collection: "countries", field: "x_e", type: "enum", values: ["one", "two"], targets: [], description: nil), author: "ana")
        try a.update(ref("countries/cn"), [.set("x_i", .int(3)), .set("x_b", .bool(true)), .set("x_t", .text("t")), .set("x_e", .text("one"))], author: "ana")
        let layout = try a.layoutProblems()
        #expect(layout.isEmpty, "\(layout)")
        let again = try Store(path: dir.url.appendingPathComponent("a.db").path)
        #expect(try again.layoutProblems().isEmpty)
    }

    /// A UNIQUE constraint on a table the repair makes again is not a
    /// reason to refuse the repair: the rebuild drops it.
    @Test func aUniqueConstraintOnATableMadeAgainDoesNotRuleTheRepairOut() throws {
        let (dir, a) = try seeded()
        defer { _ = dir }   // kept to the end: its files are the store's
        try remakeCountries(a) { $0.replacingOccurrences(of: Self.declaredID, with: "id TEXT NOT NULL").replacingOccurrences(of: "\"name\" TEXT", with: "\"name\" TEXT UNIQUE") }
        let layout = try a.layoutProblems()
        #expect(layout.collectionTables == ["countries"] && layout.uniqueIndexes.isEmpty && !layout.rulesOutRepair, "\(layout)")
        #expect(try a.rebuildCollectionTables(layout.collectionTables) == ["countries"])
        #expect(try a.layoutProblems().isEmpty)
    }

    /// A rebuild made with the schema this store opened with, after another
    /// process added a field, would drop the field's column: refused.
    @Test func aRebuildAfterTheSchemaChangedElsewhereIsRefused() throws {
        let (dir, a) = try seeded()
        try remakeCountries(a) { $0.replacingOccurrences(of: Self.declaredID, with: "id TEXT NOT NULL") }
        let other = try Store(path: dir.url.appendingPathComponent("a.db").path)
        try other.changeSchema(.addField(collection: "countries", field: "iso3", type: "text", values: [], targets: [], description: nil), author: "ana")
        #expect(throws: StoreError.self) { try a.rebuildCollectionTables(["countries"]) }
        #expect(try other.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM pragma_table_info('countries') WHERE name = 'iso3'") } == 1)
        // Opened again, the store knows the new field, and the rebuild keeps its column.
        #expect(try other.rebuildCollectionTables(["countries"]) == ["countries"])
        #expect(try other.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM pragma_table_info('countries') WHERE name = 'iso3'") } == 1)
        #expect(try other.layoutProblems().isEmpty)
    }

    /// CHECK found as SQLite reads the text: not inside quoted names,
    /// strings or comments, and not hidden by a quote inside a comment.
    @Test func aCheckConstraintIsFoundAsSQLiteReadsTheText() {
        #expect(CollectionTableCheck.hasCheckConstraint("CREATE TABLE t(a TEXT, CHECK (a <> 'x'))"))
        #expect(CollectionTableCheck.hasCheckConstraint("CREATE TABLE t(a TEXT check(a > 1))"))
        #expect(CollectionTableCheck.hasCheckConstraint("CREATE TABLE t(a TEXT -- don't\n, CHECK (a <> 'x'))"))
        #expect(CollectionTableCheck.hasCheckConstraint("CREATE TABLE t(a TEXT /* \" */, CHECK (a <> 'x') /* \" */)"))
        #expect(!CollectionTableCheck.hasCheckConstraint("CREATE TABLE t(\"check\" TEXT, [check] TEXT, `check` TEXT, b TEXT DEFAULT 'check')"))
        #expect(!CollectionTableCheck.hasCheckConstraint("CREATE TABLE t(a TEXT /* check later */, checked TEXT -- check\n)"))
        #expect(!CollectionTableCheck.hasCheckConstraint("CREATE TABLE \"a\"\"check\"(b TEXT)"))
        // '$' and bytes past ASCII belong to a name, as SQLite reads it.
        #expect(!CollectionTableCheck.hasCheckConstraint("CREATE TABLE t(id TEXT CONSTRAINT pk$check PRIMARY KEY, a·check TEXT, b TEXT -- unterminated"))
        #expect(CollectionTableCheck.hasCheckConstraint("CREATE TABLE t(a TEXT, [b] TEXT, 'it''s' TEXT, CHECK(a))"))
    }

    /// A table made again under another case of its name (`Countries`) is
    /// the table syncd writes (SQLite compares names without case): judged
    /// all the same.
    @Test func aTableMadeAgainUnderAnotherCaseOfItsNameIsJudged() throws {
        let (dir, a) = try seeded()
        defer { _ = dir }   // kept to the end: its files are the store's
        try a.withWriteTransaction { db in
            let sql = try #require(try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'countries'"))
            try db.execute(sql: "ALTER TABLE countries RENAME TO countries_before")
            try db.execute(sql: sql.replacingOccurrences(of: "\"countries\"", with: "\"Countries\"").replacingOccurrences(of: Self.declaredID, with: "id TEXT COLLATE NOCASE PRIMARY KEY NOT NULL"))
            try db.execute(sql: "INSERT INTO Countries SELECT * FROM countries_before")
            try db.execute(sql: "DROP TABLE countries_before")
        }
        #expect(try a.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE lower(name) = 'countries'") } == ["Countries"])
        let layout = try a.layoutProblems()
        #expect(layout.collectionTables == ["countries"] && layout.collectionTableProblems[0].contains("NOCASE"), "\(layout)")
        #expect(try a.rebuildCollectionTables(["countries"]) == ["countries"])
        #expect(try a.layoutProblems().isEmpty && a.viewDrift().count == 0)
    }

    /// A field column remade with `COLLATE NOCASE` leaves every write
    /// exact, but a filter on it finds `FRANCE` as France on this replica
    /// only: named, and made again with the column compared as bytes.
    @Test func aFieldColumnComparedWithoutCaseIsNamed() throws {
        let (dir, a) = try seeded()
        defer { _ = dir }   // kept to the end: its files are the store's
        try remakeCountries(a) { $0.replacingOccurrences(of: "\"name\" TEXT", with: "\"name\" TEXT COLLATE NOCASE") }
        #expect(try a.list("countries", where: [("name", .text("FRANCE"))]).map(\.ref.id) == ["fr"], "the consequence the check is for")
        let layout = try a.layoutProblems()
        #expect(layout.collectionTables == ["countries"] && layout.collectionTableProblems[0].contains("its column name compares other than as bytes (NOCASE)"), "\(layout)")
        #expect(try a.rebuildCollectionTables(["countries"]) == ["countries"])
        #expect(try a.layoutProblems().isEmpty)
        #expect(try a.list("countries", where: [("name", .text("FRANCE"))]).isEmpty)
        #expect(try a.list("countries", where: [("name", .text("France"))]).map(\.ref.id) == ["fr"])
    }

    /// A table another process changed after this store opened (a field
    /// added) is judged by the schema the file holds: no false alarm.
    @Test func aFieldAddedElsewhereAfterOpeningIsNoProblem() throws {
        let (dir, a) = try seeded()
        let other = try Store(path: dir.url.appendingPathComponent("a.db").path)
        try other.changeSchema(.addField(collection: "countries", field: "iso3", type: "text", values: [], targets: [], description: nil), author: "ana")
        #expect(try a.layoutProblems().isEmpty)
    }

    /// A view in the table's place: syncd's writes of it fail. Named, and
    /// made a table again.
    @Test func aViewInPlaceOfTheTableIsNamedAndMadeATable() throws {
        let (dir, a) = try seeded()
        defer { _ = dir }   // kept to the end: its files are the store's
        try a.withWriteTransaction { db in
            try db.execute(sql: "CREATE TABLE mine AS SELECT * FROM countries")
            try db.execute(sql: "DROP TABLE countries")
            try db.execute(sql: "CREATE VIEW countries AS SELECT * FROM mine")
        }
        let layout = try a.layoutProblems()
        #expect(layout.collectionTables == ["countries"] && layout.collectionTableProblems[0].contains("view"), "\(layout)")
        // Opened again (its triggers went with the table, so the open lays
        // the tables out): refused, saying what to do.
        let error = #expect(throws: (any Error).self) { _ = try Store(path: dir.url.appendingPathComponent("a.db").path) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("DROP VIEW"), "\(error.map { "\($0)" } ?? "")")
        #expect(try a.rebuildCollectionTables(["countries"]) == ["countries"])
        #expect(try a.layoutProblems().isEmpty && a.viewDrift().count == 0)
        _ = try Store(path: dir.url.appendingPathComponent("a.db").path)
    }

    /// The primary key as syncd declares it, or WITHOUT ROWID, is sound;
    /// a UNIQUE index that takes in `id` compared otherwise than as bytes
    /// is named (it holds "cn" and "CN" as one).
    @Test func soundKeysPassAndAUniqueIndexOnIDNocaseIsNamed() throws {
        let (dir, a) = try seeded()
        defer { _ = dir }   // kept to the end: its files are the store's
        #expect(try a.layoutProblems().isEmpty)
        try remakeCountries(a) { $0 + " WITHOUT ROWID" }
        #expect(try a.layoutProblems().collectionTables == [])
        try a.withWriteTransaction { db in try db.execute(sql: "CREATE UNIQUE INDEX ids_any_case ON minerals(id COLLATE NOCASE)") }
        let layout = try a.layoutProblems()
        #expect(layout.uniqueIndexes.count == 1 && layout.uniqueIndexes[0].contains("ids_any_case"), "\(layout)")
    }
}
