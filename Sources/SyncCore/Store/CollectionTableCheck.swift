import Foundation
import GRDB
import GRDBSQLite

/// Whether a collection table is declared so that syncd's writes keep it
/// the exact reading of the slots (replication-model §8). syncd finds a
/// record's row by `id = ?`, changes it with `UPDATE … WHERE id = ?`, and
/// writes a new one with `INSERT … ON CONFLICT(id) DO UPDATE` (`INSERT OR
/// REPLACE` without a key), a NULL for each empty field. A table another
/// program made again can break each step:
/// - `id` not the primary key alone, not TEXT, or not compared as bytes (a
///   collation on the key or on the column: `WHERE id = ?` compares by the
///   column's): two rows for a record, or "CN" written over "cn";
/// - a field column NOT NULL or of another type: the write of an empty
///   field fails, or the cell is not the one syncd wrote (a default is
///   harmless: syncd's writes give every column);
/// - a generated, extra or missing column, a CHECK or UNIQUE constraint, a
///   STRICT table, a view in the table's place: writes fail (a peer's whole
///   batch with them), remove another record's row, or clear cells of
///   one's own on each write.
/// Nothing here reads a row: the declaration only (`pragma_table_xinfo`,
/// the key's index, the column's declared collation, the table's text).
enum CollectionTableCheck {
    /// One line per table of `schema` declared otherwise, naming every
    /// difference found. A table that does not exist is left out (the next
    /// open makes it).
    static func problems(_ db: Database, schema: Schema) throws -> [(table: String, problem: String)] {
        var found: [(String, String)] = []
        for collection in schema.tableCollections {
            // Names as SQLite compares them, without case: a table made
            // again as `Countries` is the table syncd writes.
            guard let (kind, stored) = try db.storedObject(named: collection.name) else { continue }
            if kind == "view" {
                found.append((collection.name, "its table \(collection.name) is a view (syncd's writes of it fail)"))
                continue
            }
            guard kind == "table" else { continue }
            let reasons = try differences(collection, storedAs: stored, in: db)
            if !reasons.isEmpty {
                found.append((collection.name, "its table \(collection.name) is not declared as syncd makes it: \(reasons.joined(separator: "; "))"))
            }
        }
        return found
    }

    /// `UTF8Identity.equal` of a name SQLite may not have given.
    static func same(_ a: String?, _ b: String) -> Bool { a.map { UTF8Identity.equal($0, b) } ?? false }

    /// Whether a collation SQLite names is BINARY (compare as bytes);
    /// collation names are compared as SQLite compares names.
    static func isBinary(_ collation: String?) -> Bool { collation.map { SQLiteName.same($0, "BINARY") } ?? false }

    /// The key columns of index `index`, as (name, collation) rows.
    static func keyColumns(of index: String, _ db: Database) throws -> [Row] {
        try Row.fetchAll(db, sql: "SELECT name, coll FROM pragma_index_xinfo(?) WHERE key = 1", arguments: [index])
    }

    /// Whether index `index` takes in `id` compared as bytes: then it can
    /// never hold two records' rows as one.
    static func takesInIDAsBytes(_ index: String, _ db: Database) throws -> Bool {
        try keyColumns(of: index, db).contains { same($0[0], "id") && isBinary($0[1]) }
    }

    private static func differences(_ collection: CollectionSchema, storedAs table: String, in db: Database) throws -> [String] {
        var reasons: [String] = []
        // The key: SQLite's index of it (origin 'pk'; an INTEGER PRIMARY KEY has none).
        let key = try String.fetchOne(db, sql: "SELECT name FROM pragma_index_list(?) WHERE origin = 'pk'", arguments: [table])
        let keyColumns = try key.map { try Self.keyColumns(of: $0, db) } ?? []
        if keyColumns.count != 1 || !same(keyColumns[0][0], "id") {
            reasons.append("its primary key is not id alone (the table can hold two rows for one record, and each write of a row searches the whole table)")
        } else if !isBinary(keyColumns[0][1]) {
            reasons.append("its key compares id other than as bytes (\((keyColumns[0][1] as String?) ?? "?")): a write of one record would overwrite the row of another whose id differs only in case")
        }
        // UNIQUE constraints of the declaration (origin 'u'; a UNIQUE index
        // made apart is `Store.uniqueIndexProblems`'s): one that takes in
        // `id` compared as bytes can never hold two records' rows.
        for unique in try String.fetchAll(db, sql: "SELECT name FROM pragma_index_list(?) WHERE origin = 'u'", arguments: [table]) {
            if try !takesInIDAsBytes(unique, db) {
                reasons.append("a UNIQUE constraint (\(unique)) by which syncd's writes would remove another record's row, or fail")
            }
        }
        if let collation = try declaredCollation(of: "id", in: table, db), !isBinary(collation) {
            reasons.append("its id column compares other than as bytes (\(collation)): syncd finds a row by `id = ?`, and would write one record's cells into the row of another whose id differs only in case")
        }
        // Every column: its type, NOT NULL, default, generated.
        // (A default is left alone: syncd's writes give every column.)
        let columns = try Row.fetchAll(db, sql: "SELECT name, upper(type), \"notnull\", hidden FROM pragma_table_xinfo(?)", arguments: [table])
        var seen: [String] = []
        for column in columns {
            let name: String = column[0] ?? "?"
            seen.append(name)
            let type: String = column[1] ?? ""
            if (column[3] as Int64? ?? 0) != 0 {
                reasons.append("a generated column \(name)")
                continue
            }
            if same(name, "id") {
                if !same(type, "TEXT") { reasons.append("its id is declared \(type.isEmpty ? "without a type" : type), not TEXT (ids would be stored converted)") }
            } else if same(name, "conflicted") {
                if !same(type, "INTEGER") { reasons.append("its conflicted column is declared \(type), not INTEGER") }
            } else if let field = collection.fields.first(where: { same(name, $0.name) }) {
                let expected = CollectionViews.columnType(field)
                if !same(type, expected) { reasons.append("its column \(name) is declared \(type.isEmpty ? "without a type" : type), not \(expected)") }
                if (column[2] as Int64? ?? 0) != 0 { reasons.append("its column \(name) is NOT NULL (an empty field is written as NULL)") }
                // Filters compare a column by its declared collation: under
                // NOCASE, `list --where` and the web app's filters would
                // take values differing in case for one, on this replica only.
                if let collation = try declaredCollation(of: name, in: table, db), !isBinary(collation) {
                    reasons.append("its column \(name) compares other than as bytes (\(collation)): filters on it find values that differ in case or spelling as equal, on this replica only")
                }
            } else {
                reasons.append("a column syncd does not make (\(name)): syncd never writes it, and a NOT NULL one without a default fails every new row")
            }
        }
        for name in ["id"] + collection.fields.map(\.name) + ["conflicted"] where !seen.contains(where: { same($0, name) }) {
            reasons.append("its column \(name) is missing")
        }
        if let strict = try? Int64.fetchOne(db, sql: "SELECT strict FROM pragma_table_list WHERE schema = 'main' AND name = ? COLLATE NOCASE", arguments: [table]), strict != 0 {
            reasons.append("it is STRICT (a cell of another type than its column fails the write of its row, and a peer's whole batch with it)")
        }
        let declaration = try String.fetchOne(db, sql: "SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", arguments: [table]) ?? ""
        if hasCheckConstraint(declaration) {
            reasons.append("it has a CHECK constraint (a value it refuses fails the write of its row, and a peer's whole batch with it)")
        }
        return reasons
    }

    /// The collation a column is declared with (SQLite's own reading of
    /// the declaration; "BINARY" when none is given), nil when unknown.
    static func declaredCollation(of column: String, in table: String, _ db: Database) throws -> String? {
        guard let connection = db.sqliteConnection else { return nil }
        var type: UnsafePointer<CChar>?, collation: UnsafePointer<CChar>?
        var notNull: Int32 = 0, primaryKey: Int32 = 0, autoincrement: Int32 = 0
        guard sqlite3_table_column_metadata(connection, "main", table, column, &type, &collation, &notNull, &primaryKey, &autoincrement) == SQLITE_OK,
              let collation else { return nil }
        return String(cString: collation)
    }

    /// Whether a CREATE TABLE text holds the keyword CHECK outside quoted
    /// names, string literals and comments (SQLite keeps comments in the
    /// text: a quote inside one opens nothing).
    static func hasCheckConstraint(_ sql: String) -> Bool {
        let bytes = Array(sql.utf8)
        var bare: [UInt8] = []
        var at = 0
        func skip(past end: [UInt8]) {
            while at < bytes.count, !bytes[at...].starts(with: end) { at += 1 }
            at = min(bytes.count, at + end.count)
        }
        while at < bytes.count {
            let byte = bytes[at]
            if bytes[at...].starts(with: Array("--".utf8)) {
                skip(past: [UInt8(ascii: "\n")])
            } else if bytes[at...].starts(with: Array("/*".utf8)) {
                at += 2
                skip(past: Array("*/".utf8))
            } else if [UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"), UInt8(ascii: "[")].contains(byte) {
                at += 1
                skip(past: [byte == UInt8(ascii: "[") ? UInt8(ascii: "]") : byte])
            } else {
                bare.append(byte)
                at += 1
                continue
            }
            bare.append(UInt8(ascii: " "))
        }
        // (A doubled quote inside a name closes and reopens it: still outside nothing.)
        // Words as SQLite's tokenizer makes them: ASCII letters, digits,
        // '_', '$' and every byte past ASCII belong to an identifier.
        let words = bare.split { byte in
            !(byte >= 0x80 || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$")
              || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")))
        }
        return words.contains { word in word.count == 5 && zip(word, "check".utf8).allSatisfy { ($0 | 0x20) == $1 } }
    }
}
