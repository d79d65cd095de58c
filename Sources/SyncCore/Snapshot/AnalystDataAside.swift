import Foundation
import GRDB

/// What a database kept aside by a restore or a join by snapshot holds of
/// the analyst's that the live database lacks: rows of tables of their own,
/// views of their own, and cells of columns they added to a collection
/// table (docs/sql.md). None of it is a slot, so merging the copy back
/// brings none of it; a copy that holds any is kept under another name
/// instead of being removed (replication-model §7, "The kept-aside
/// database"), and the log says what it holds.
///
/// A restore replaces the whole file, so a table made after the snapshot
/// is only in the copy; a join adopts in place, so the copy's tables are
/// mostly still live (and the cells of added columns in
/// `<collection>_kept_columns…`), and nothing is reported for them.
/// Compared as SQLite compares rows (`EXCEPT`): a row counts as kept when
/// the live table holds an equal one.
enum AnalystDataAside {
    /// One line per table, view or added column of the copy at `asidePath`
    /// whose content the database at `livePath` lacks; empty when none.
    /// Read-only on both.
    static func missing(in asidePath: String, from livePath: String) throws -> [String] {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: asidePath, configuration: configuration)
        defer { try? queue.close() }
        return try queue.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS live", arguments: [livePath])
            defer { try? db.execute(sql: "DETACH DATABASE live") }
            return try missing(in: db)
        }
    }

    /// `missing(in:from:)` on a connection to the copy with the live
    /// database attached as `live`.
    static func missing(in db: Database) throws -> [String] {
        let made = try CollectionViews.tablesMade(in: db)
        var lines: [String] = []
        let objects = try Row.fetchAll(db, sql: "SELECT type, name, CAST(sql AS BLOB) FROM main.sqlite_master WHERE type IN ('table', 'view') ORDER BY name")
        for object in objects {
            let kind: String = object[0] ?? "", name: String = object[1] ?? ""
            let key = SQLiteName.key(name)
            if key.starts(with: Array("sqlite_".utf8)) || key.starts(with: Array("sync_".utf8)) { continue }
            let isCollectionTable = kind == "table" && made.contains { SQLiteName.same($0, name) }
            if kind == "view" {
                let live = try Data.fetchOne(db, sql: "SELECT CAST(sql AS BLOB) FROM live.sqlite_master WHERE type = 'view' AND name = ? COLLATE NOCASE",
                                             arguments: [name])
                if live != (object[2] as Data?) { lines.append("view \(name)") }
                continue
            }
            let columns = try ownColumns(of: name, in: db)
            if isCollectionTable, columns.contains(where: { SQLiteName.same($0, "id") }) {
                lines += try addedCells(of: name, columns: columns, in: db)
            } else if try !db.holdsTable(name, in: "live") {
                let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM main.\(name.quotedDatabaseIdentifier)") ?? 0
                lines.append("table \(name): \(rows) row(s), not in the live database")
            } else if let count = try rowsLacking(columns, of: name, in: db) {
                if count > 0 { lines.append("table \(name): \(count) row(s) the live database lacks") }
            } else {
                lines.append("table \(name): laid out otherwise in the live database")
            }
        }
        return lines
    }

    /// The table's columns that are not generated, in order.
    private static func ownColumns(of table: String, in db: Database, schema: String = "main") throws -> [String] {
        try Row.fetchAll(db, sql: "SELECT name, hidden FROM pragma_table_xinfo(?, ?)", arguments: [table, schema])
            .filter { ($0[1] as Int64? ?? 0) < 2 }.compactMap { $0[0] as String? }
    }

    /// How many distinct rows of `main.table` (over `columns`) `live.table`
    /// lacks; nil when they cannot be compared (another layout).
    private static func rowsLacking(_ columns: [String], of table: String, in db: Database) throws -> Int? {
        guard !columns.isEmpty else { return nil }
        let list = columns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        let quoted = table.quotedDatabaseIdentifier
        do {
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM (SELECT \(list) FROM main.\(quoted) EXCEPT SELECT \(list) FROM live.\(quoted))")
        } catch let error as DatabaseError where error.resultCode == .SQLITE_ERROR {
            return nil
        }
    }

    /// For each column of the collection table `table` that syncd did not
    /// lay out (`view_columns:C`), a line when a cell holding a value is in
    /// neither the live table nor one of the live `<table>_kept_columns…`.
    private static func addedCells(of table: String, columns: [String], in db: Database) throws -> [String] {
        guard let laidOut = String.fromDatabaseValue(try db.meta(MetaKey.viewColumns(table))).map(CollectionViews.parseJSONArray) else { return [] }
        let added = columns.filter { column in
            !SQLiteName.same(column, "id") && !SQLiteName.same(column, "conflicted") && !laidOut.contains { SQLiteName.same($0, column) }
        }
        guard !added.isEmpty else { return [] }
        let prefix = SQLiteName.key(table + "_kept_columns")
        let candidates = try String.fetchAll(db, sql: "SELECT name FROM live.sqlite_master WHERE type = 'table'")
            .filter { SQLiteName.same($0, table) || SQLiteName.key($0).starts(with: prefix) }
        var lines: [String] = []
        for column in added {
            let pair = "id, \(column.quotedDatabaseIdentifier)"
            var sql = "SELECT \(pair) FROM main.\(table.quotedDatabaseIdentifier) WHERE \(column.quotedDatabaseIdentifier) IS NOT NULL"
            for candidate in candidates {
                let names = try ownColumns(of: candidate, in: db, schema: "live")
                guard names.contains(where: { SQLiteName.same($0, "id") }), names.contains(where: { SQLiteName.same($0, column) }) else { continue }
                sql += " EXCEPT SELECT \(pair) FROM live.\(candidate.quotedDatabaseIdentifier)"
            }
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(sql))") ?? 0
            if count > 0 { lines.append("column \(table).\(column): \(count) cell(s) the live database lacks") }
        }
        return lines
    }
}
