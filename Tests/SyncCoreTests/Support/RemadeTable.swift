import GRDB
import Testing

/// Makes `table` again as another program would (`ALTER TABLE … RENAME`,
/// `CREATE TABLE`, rows copied, the old one dropped), its declaration with
/// `old` replaced by `new`; records an issue if `old` is not in it.
func remakeTable(_ table: String, replacing old: String, with new: String, in db: Database) throws {
    let declared = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [table]) ?? ""
    let remade = declared.replacingOccurrences(of: old, with: new)
    #expect(remade != declared, "\(old) is not in \(declared)")
    let quoted = table.quotedDatabaseIdentifier, before = "\(table)_before".quotedDatabaseIdentifier
    try db.execute(sql: "ALTER TABLE \(quoted) RENAME TO \(before)")
    try db.execute(sql: remade)
    try db.execute(sql: "INSERT INTO \(quoted) SELECT * FROM \(before); DROP TABLE \(before)")
}
