import GRDB
import PropertyBased
import Testing
@testable import SyncCore

/// Names of SQLite objects are compared as SQLite compares them, with
/// SQLite itself as the oracle: ASCII case folded, nothing else. Swift's
/// `lowercased()` and `==` would take a Kelvin sign for `k` / `K`, and GRDB's
/// `tableExists` does both.
@Suite("SQLite names compared as SQLite does")
struct SQLiteNameTests {
    /// Groups of characters that some comparison takes for one another, to
    /// break a comparison that is not SQLite's: ASCII letters in both cases,
    /// the Kelvin sign (U+212A, `k` to `lowercased()`, `K` to `==`), the
    /// Angstrom sign (U+212B, `Å` to `==`), `İ` and `ß` (which change length
    /// under Unicode case mapping), `é` in both normalizations, `;` and the
    /// Greek question mark (U+037E, `;` to `==`).
    static let lookalikes: [[String]] = [["k", "K", "\u{212A}"], ["a", "A"], ["\u{212B}", "\u{00C5}", "\u{00E5}"], ["\u{0130}", "i", "I"],
                                         ["\u{00DF}", "ss", "SS"], ["\u{00E9}", "e\u{0301}", "\u{00C9}"], [";", "\u{037E}"], ["_"]]

    @Test func twoNamesAreOneExactlyWhenSQLiteFindsOneTableUnderBoth() async throws {
        let queue = try DatabaseQueue()
        // A name as groups, and two picks in each: two names that look alike, often one to SQLite.
        let spelled = Gen.int(in: 0..<Self.lookalikes.count).array(of: 1...4)
        await propertyCheck(count: 400, input: spelled, Gen.int(in: 0...5).array(of: 4...4), Gen.int(in: 0...5).array(of: 4...4)) { groups, first, second in
            func name(_ picks: [Int]) -> String {
                groups.enumerated().map { at, group in Self.lookalikes[group][picks[at] % Self.lookalikes[group].count] }.joined()
            }
            let a = name(first), b = name(second)
            let sqlite = try! queue.write { db -> Bool in
                try db.execute(sql: "CREATE TABLE \(a.quotedDatabaseIdentifier)(x)")
                defer { try! db.execute(sql: "DROP TABLE \(a.quotedDatabaseIdentifier)") }
                #expect(try db.holdsTable(a) && db.holdsTable(a, in: "main") && !db.holdsTable(a, in: "temp"))
                // SQLite's own lookup: does `b` name the table made as `a`?
                return (try? db.execute(sql: "SELECT x FROM \(b.quotedDatabaseIdentifier)")) != nil
            }
            #expect(SQLiteName.same(a, b) == sqlite, "\(Array(a.unicodeScalars)) / \(Array(b.unicodeScalars))")
            #expect((SQLiteName.key(a) == SQLiteName.key(b)) == sqlite)
            #expect(SQLiteName.same(SQLiteName.folded(a), a))
            let found = try! queue.write { db -> Bool in
                try db.execute(sql: "CREATE TABLE \(a.quotedDatabaseIdentifier)(x)")
                defer { try! db.execute(sql: "DROP TABLE \(a.quotedDatabaseIdentifier)") }
                return try db.holdsTable(b)
            }
            #expect(found == sqlite, "holdsTable: \(Array(a.unicodeScalars)) / \(Array(b.unicodeScalars))")
        }
    }

    /// The Kelvin sign, spelled out: another table to SQLite, the same to GRDB.
    @Test func aKelvinSignIsAnotherName() throws {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE \"\u{212A}ilns\"(x)")
            #expect(try !db.holdsTable("kilns") && !db.holdsTable("Kilns"))
            #expect(try db.tableExists("kilns"), "GRDB's lookup folds as Swift does; if this changes, the note in SQLiteNames.swift can go")
            try db.execute(sql: "CREATE TABLE kilns(y)")
            #expect(try db.holdsTable("KILNS") && db.holdsTable("\u{212A}ilns"))
        }
        #expect(!SQLiteName.same("kilns", "\u{212A}ilns") && SQLiteName.same("kilns", "KiLnS"))
    }
}
