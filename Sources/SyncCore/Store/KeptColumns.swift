import GRDB
import Logging

/// Columns an analyst added to a collection table (`ALTER TABLE countries
/// ADD COLUMN score`, docs/sql.md), kept when syncd must make the table
/// again: a column it does not declare makes the table another layout, and
/// the table is dropped and written anew from the records. The cells of
/// such columns are no replicated data, but they are the analyst's, so
/// before the drop the rows that hold any of them are copied, with `id`
/// (with `rowid` when the table has no `id`, one another program made
/// again), into a table of their own beside it (`countries_kept_columns`,
/// then `…_2`, …), which syncd never reads or changes again; the warning
/// goes to the log once the transaction commits.
///
/// A copy that fails for what the table holds (a `WITHOUT ROWID` table
/// without `id`, say) is rolled back alone and logged as an error: it never
/// fails the transaction that lays the tables out, which may carry a peer's
/// batch. One that fails for the disk, the memory, a lock or an interrupt
/// fails that transaction (`endsTheTransaction`), tried again later with
/// the cells still in place.
public struct KeptColumns: Sendable, Equatable, CustomStringConvertible {
    public let collection: String
    /// The table the cells were copied into; nil when the copy failed.
    public let table: String?
    public let columns: [String]
    public let rows: Int
    /// Why the copy failed, when it did.
    public let failure: String?
    /// What the cells were copied before ("the table was made again").
    public var before = "the table was made again"

    public var description: String {
        if let failure {
            return "the cells of column(s) \(columns.joined(separator: ", ")) of \(collection), which syncd does not declare, could not be copied before \(before): \(failure)"
        }
        return "\(rows) row(s) of column(s) \(columns.joined(separator: ", ")) of \(collection), which syncd does not declare, were copied into \(table ?? "?") before \(before)"
    }

    /// Copies `columns` of the collection table `collection` into a new
    /// table, for the rows where any of them holds a value; nil when none
    /// does; all of a table without `id`. The caller names the columns
    /// that are not syncd's (`CollectionViews.undeclaredColumns`); generated
    /// columns are left out (their cells come from the others, and reading
    /// one may fail).
    static func keep(_ columns: [String], of collection: String, in db: Database) throws -> KeptColumns? {
        let source = "main.\(collection.quotedDatabaseIdentifier)"
        var kept: KeptColumns?
        do {
            try db.inSavepoint {
                let all = try Row.fetchAll(db, sql: "SELECT name, hidden FROM pragma_table_xinfo(?, 'main')", arguments: [collection])
                let generated = Set(all.filter { ($0[1] as Int64? ?? 0) >= 2 }.compactMap { ($0[0] as String?).map(UTF8Key.init) })
                let hasID = all.contains { SQLiteName.same($0[0] as String? ?? "", "id") }
                // Without `id` the table is another program's altogether (made
                // again by a client): every column of it is theirs.
                let theirs = (hasID ? columns : all.compactMap { $0[0] as String? }).filter { !generated.contains(UTF8Key($0)) }
                guard !theirs.isEmpty else { return .rollback }
                let quoted = theirs.map(\.quotedDatabaseIdentifier)
                let condition = quoted.map { "\($0) IS NOT NULL" }.joined(separator: " OR ")
                let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(source) WHERE \(condition)") ?? 0
                guard rows > 0 else { return .rollback }
                var name = "\(collection)_kept_columns"
                var number = 1
                // Any object's name, compared as SQLite compares names (a
                // table, view, index or trigger of anyone's): never over one.
                while try Int.fetchOne(db, sql: "SELECT count(*) FROM main.sqlite_master WHERE name = ? COLLATE NOCASE", arguments: [name]) != 0 {
                    number += 1
                    name = "\(collection)_kept_columns_\(number)"
                }
                try db.execute(sql: "CREATE TABLE main.\(name.quotedDatabaseIdentifier) AS SELECT \(hasID ? "id" : "rowid AS \"rowid\""), \(quoted.joined(separator: ", ")) FROM \(source) WHERE \(condition)")
                kept = KeptColumns(collection: collection, table: name, columns: theirs, rows: rows, failure: nil)
                return .commit
            }
            return kept
        } catch let error as DatabaseError where !Self.endsTheTransaction(error) && db.isInsideTransaction {
            // Caused by the table's own content: the copy alone is rolled back.
            return KeptColumns(collection: collection, table: nil, columns: columns, rows: 0, failure: "\(error)")
        }
    }

    /// Errors of the disk, the memory, a lock or an interrupt: they end (or
    /// must end) the whole transaction, which is tried again later, with the
    /// cells still in the table; a copy is never skipped for them.
    static func endsTheTransaction(_ error: DatabaseError) -> Bool {
        [.SQLITE_FULL, .SQLITE_IOERR, .SQLITE_NOMEM, .SQLITE_INTERRUPT, .SQLITE_ABORT, .SQLITE_BUSY, .SQLITE_LOCKED,
         .SQLITE_CORRUPT, .SQLITE_NOTADB, .SQLITE_READONLY, .SQLITE_CANTOPEN].contains(error.resultCode)
    }

    /// Logs `kept` once the transaction it was made in commits (a rolled
    /// back one made no copy, and is tried again).
    static func log(_ kept: [KeptColumns], logger: Logger, path: String, in db: Database) {
        guard !kept.isEmpty else { return }
        db.afterNextTransaction(onCommit: { _ in
            for copy in kept {
                let metadata: Logger.Metadata = ["path": "\(path)", "collection": "\(copy.collection)", "columns": "\(copy.columns.joined(separator: ","))",
                                                 "rows": "\(copy.rows)", "kept_in": "\(copy.table ?? "-")"]
                if let failure = copy.failure {
                    logger.error("a collection table was made again without the columns an analyst added, and their cells could not be copied aside: they went with the table (a snapshot taken before holds them)", metadata: metadata.merging(["error": "\(failure)"]) { $1 })
                } else {
                    logger.warning("a collection table was made again without the columns an analyst added; their cells were copied into a table of their own", metadata: metadata)
                }
            }
        })
    }
}
