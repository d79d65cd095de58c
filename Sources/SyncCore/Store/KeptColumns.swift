import GRDB

/// Columns an analyst added to a collection table (`ALTER TABLE countries
/// ADD COLUMN score`, docs/sql.md), kept when syncd must make the table
/// again: a column it does not declare makes the table another layout, and
/// the table is dropped and written anew from the records. The cells of
/// such columns are no replicated data, but they are the analyst's, so
/// before the drop the rows that hold any of them are copied, by `id`, into
/// a table of their own beside it (`countries_kept_columns`, then `…_2`,
/// …), which syncd never reads or changes again, and the caller logs it.
public struct KeptColumns: Sendable, Equatable, CustomStringConvertible {
    public let collection: String
    /// The table the cells were copied into.
    public let table: String
    public let columns: [String]
    public let rows: Int

    public var description: String {
        "\(rows) row(s) of column(s) \(columns.joined(separator: ", ")) of \(collection), which syncd does not declare, were copied into \(table) before the table was made again"
    }

    /// Copies `columns` of the collection table `collection` (with `id`)
    /// into a new table, for the rows where any of them holds a value; nil
    /// when none does, or when every column is syncd's own: a field whose
    /// definition is here but withheld loses its column, and its values
    /// stay in the records.
    static func keep(_ columns: [String], of collection: String, in db: Database) throws -> KeptColumns? {
        let theirs = try columns.filter { column in
            try db.storedSlots(RecordRef(collection: SchemaEvolution.collection, id: "f.\(collection).\(column)")).isEmpty
        }
        guard !theirs.isEmpty else { return nil }
        let quoted = theirs.map(\.quotedDatabaseIdentifier)
        let condition = quoted.map { "\($0) IS NOT NULL" }.joined(separator: " OR ")
        let source = "main.\(collection.quotedDatabaseIdentifier)"
        let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(source) WHERE \(condition)") ?? 0
        guard rows > 0 else { return nil }
        var name = "\(collection)_kept_columns"
        var number = 1
        // Names compared as SQLite compares them: never over an object of anyone's.
        while try db.storedObject(named: name) != nil {
            number += 1
            name = "\(collection)_kept_columns_\(number)"
        }
        try db.execute(sql: "CREATE TABLE main.\(name.quotedDatabaseIdentifier) AS SELECT id, \(quoted.joined(separator: ", ")) FROM \(source) WHERE \(condition)")
        return KeptColumns(collection: collection, table: name, columns: theirs, rows: rows)
    }
}
