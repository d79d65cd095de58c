import PropertyBased
import Testing
@testable import SyncCore

/// Rows written with `CSV.line` parse back to the same scalars. The alphabet
/// is the parser's special scalars plus the marks that join with them into
/// one `Character` (found by fuzz-import: a comma followed by U+0301 was
/// written unquoted, because the `Character` `",\u{301}"` is not `","`).
@Suite("CSV round trip", .timeLimit(.minutes(3)))
struct CSVRoundTripTests {
    static let alphabet: [Unicode.Scalar] = [",", "\"", "\n", "\r", " ", "a", "\u{301}", "\u{200D}", "\u{FE0F}", "é", "\u{FEFF}"]

    static let fieldGen = Gen.int(in: 0...(alphabet.count - 1)).array(of: 0...6).map(scalarText(from: alphabet))
    static let rowGen = fieldGen.array(of: 1...4)

    static func scalars(_ rows: [[String]]) -> [[[Unicode.Scalar]]] {
        rows.map { $0.map { Array($0.unicodeScalars) } }
    }

    static func roundTrip(_ rows: [[String]]) throws -> [[String]] {
        try CSV.parse(rows.map { CSV.line($0) + "\n" }.joined()).map(\.fields)
    }

    @Test(arguments: [
        [",\u{301}"], ["\"\u{301}"], ["a\r\nb"], ["\n\u{301}"], [" \u{301}"], ["x", "\r\u{301}", "y"],
    ])
    func fieldsThatJoinWithAMarkStayWhole(_ row: [String]) throws {
        #expect(Self.scalars(try Self.roundTrip([row])) == Self.scalars([row]))
    }

    @Test func anyRowsRoundTrip() async {
        await propertyCheck(count: 2_000, input: Self.rowGen.array(of: 1...4)) { rows in
            // A byte-order mark opening the file is dropped on purpose.
            guard rows.first?.first?.unicodeScalars.first != "\u{FEFF}" else { return }
            let again = try? Self.roundTrip(rows)
            #expect(again.map(Self.scalars) == Self.scalars(rows))
        }
    }
}
