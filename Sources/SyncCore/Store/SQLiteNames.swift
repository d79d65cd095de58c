import GRDB

/// Names of tables, views, indexes and triggers compared as SQLite compares
/// them: ASCII letters without case, every other byte as it is
/// (replication-model §2.4, §4.5).
///
/// Swift's `lowercased()` and `==` do more: `lowercased()` turns a Kelvin
/// sign (U+212A) into `k`, and `==` takes it for `K`. A table an analyst
/// named `\u{212A}ilns` is another table to SQLite than the collection
/// `kilns`; taken for it, syncd would read the wrong table's columns or
/// find none to write, and every batch naming `kilns` would fail. So no name
/// read from `sqlite_master` is folded or compared by Swift's text rules,
/// and no store code asks GRDB's `tableExists`, which does both.
enum SQLiteName {
    /// The bytes SQLite compares for `name`: ASCII upper case folded to lower.
    static func key(_ name: String) -> [UInt8] {
        name.utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
    }

    /// `name` with ASCII letters in lower case and every other character
    /// kept: the spelling under which SQLite finds the same object.
    static func folded(_ name: String) -> String { String(decoding: key(name), as: UTF8.self) }

    /// Whether SQLite takes `a` and `b` for one name.
    static func same(_ a: String, _ b: String) -> Bool { key(a) == key(b) }
}

extension Database {
    /// Whether a table SQLite would find under `name` exists, in `schema`
    /// or, without one, in any schema of the connection (temp, main, then
    /// attached ones, SQLite's own order for an unqualified name).
    func holdsTable(_ name: String, in schema: String? = nil) throws -> Bool {
        let schemas = try schema.map { [$0] } ?? String.fetchAll(self, sql: "SELECT name FROM pragma_database_list ORDER BY seq <> 1, seq")
        for candidate in schemas {
            let found = try Bool.fetchOne(self, sql: """
                SELECT EXISTS (SELECT 1 FROM \(candidate.quotedDatabaseIdentifier).sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE)
                """, arguments: [name])
            if found == true { return true }
        }
        return false
    }

    /// The table or view standing under `name` in the main database, found
    /// as SQLite finds names (without case), and the name as stored.
    func storedObject(named name: String) throws -> (kind: String, name: String)? {
        guard let row = try Row.fetchOne(self, sql: "SELECT type, name FROM main.sqlite_master WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE",
                                         arguments: [name]) else { return nil }
        return (row[0] ?? "", row[1] ?? name)
    }

    /// Drops the table or view SQLite finds under `name` in the main
    /// database, whichever it is; nothing when there is none.
    func dropTableOrView(named name: String) throws {
        guard let (kind, _) = try storedObject(named: name) else { return }
        try execute(sql: "DROP \(kind == "view" ? "VIEW" : "TABLE") main.\(name.quotedDatabaseIdentifier)")
    }
}
