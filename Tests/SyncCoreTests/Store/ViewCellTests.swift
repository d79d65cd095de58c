import Foundation
import GRDB
import Testing
@testable import SyncCore
import SyncSimulation
import TestSupport

/// The cell a collection table keeps for a value of another type than its
/// field's (`SQLCell.init(_:in:)`), against SQLite itself on a real file:
/// what it decides is what SQLite stores when given the text (its column
/// affinity), and binding that decided cell stores it unchanged.
@Suite("Cells of values of another type than their field's")
struct ViewCellTests {
    static let integerField = FieldSchema(name: "rank", type: .integer)
    static let textField = FieldSchema(name: "name", type: .text)

    /// SQLite's own cells: `text` inserted as text into an INTEGER column,
    /// and `cell` bound as it is.
    static func stored(_ texts: [String], cells: [SQLCell], in dir: TemporaryDirectory) throws -> (converted: [SQLCell], bound: [SQLCell]) {
        let queue = try DatabaseQueue(path: dir.path("cells.db"))
        defer { try? queue.close() }
        return try queue.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS t(n INTEGER, c INTEGER)")
            try db.execute(sql: "DELETE FROM t")
            let insert = try FastStatement(db, "INSERT INTO t(rowid, n, c) VALUES (?, ?, ?)")
            for (index, text) in texts.enumerated() {
                insert.bind(1, Int64(index + 1))
                insert.bind(2, text)
                insert.bind(3, cells[index])
                try insert.execute()
            }
            let select = try FastStatement(db, "SELECT n, c FROM t ORDER BY rowid")
            var converted: [SQLCell] = [], bound: [SQLCell] = []
            while try select.step() {
                converted.append(SQLCell.read(select.handle, 0))
                bound.append(SQLCell.read(select.handle, 1))
            }
            return (converted, bound)
        }
    }

    @Test func textInAnIntegerColumnIsTheCellSQLiteMakesOfIt() throws {
        let dir = TemporaryDirectory()
        // The boundaries a review named, and the plain cases.
        var texts = [" 12 ", "3.0e+5", "abc", "0x10", "0X1p4", "inf", "-Infinity", "nan", "9223372036854775807", "9223372036854775808",
                     "-9223372036854775808", "-9223372036854775809", "9007199254740993", "1e18", "+5", "007", "-0", "-0.0", "1.5", "12.", ".5",
                     "5e", "e5", ".", "", "  ", "\t7\n", "1_000", "１２", "12 34", "1e400", "1e-400", "--1", "+-1", "1.2.3"]
        // A search over short strings of a number's alphabet (exact as
        // doubles, so SQLite's conversion and Swift's agree on the value).
        var generator = SeededRandom(seed: 24)
        let alphabet = Array("0123456789+-.eE x\t")
        for _ in 0..<3_000 {
            texts.append(String((0..<Int.random(in: 1...7, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }))
        }
        let decided = texts.map { SQLCell(.text($0), in: Self.integerField) }
        let (converted, bound) = try Self.stored(texts, cells: decided, in: dir)
        for index in texts.indices {
            #expect(bound[index] == decided[index], "binding \(decided[index]) for \(texts[index].debugDescription) stored \(bound[index])")
            #expect(converted[index] == decided[index], "SQLite made \(converted[index]) of \(texts[index].debugDescription), the store \(decided[index])")
        }
    }

    /// Past about 17 significant digits SQLite 3.40 rounds otherwise (it
    /// keeps 18–19 digits and divides in long double) and can even land on
    /// the other side of "whole": the store's correctly rounded decision is
    /// the rule, and SQLite keeps the cell it is given.
    @Test func longNumbersAreTheStoresDecisionKeptAsBound() throws {
        let dir = TemporaryDirectory()
        let texts = ["1.0000000000000001110223024625156541", "2251799813685248.250000000000000001", "1125899906842624.125000000000001",
                     "+950413503682182.93770732"]
        let decided = texts.map { SQLCell(.text($0), in: Self.integerField) }
        // The first three are not whole once correctly rounded (SQLite 3.40 makes integers of them), the last is.
        #expect(decided == texts.prefix(3).map { .real(Double($0)!) } + [.integer(950413503682183)])
        #expect(texts.prefix(3).allSatisfy { Double($0)!.rounded() != Double($0)! })
        let (_, bound) = try Self.stored(texts, cells: decided, in: dir)
        #expect(bound == decided)
    }

    @Test func anIntegerOrABooleanInATextColumnIsItsDecimalText() {
        for (value, text) in [(Value.int(42), "42"), (.int(-7), "-7"), (.int(.min), "-9223372036854775808"), (.bool(true), "1"), (.bool(false), "0")] {
            #expect(SQLCell(value, in: Self.textField) == .text(Array(text.utf8)))
        }
        #expect(SQLCell.converted(.text("x"), in: Self.textField) == nil)
        #expect(SQLCell.converted(.int(3), in: Self.integerField) == nil)
    }
}
