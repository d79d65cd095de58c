import PropertyBased
import Testing
@testable import SyncCore

/// Set members written into one CSV cell with `SetCell.join` split back to the
/// same scalars. The alphabet is what `split` treats specially (separator,
/// backslash, blanks) plus marks that join with them into one `Character`
/// (found by fuzz-import: `"; \u{742}"` is one `Character`, so the space
/// stayed in the member when members were split and trimmed by `Character`).
@Suite("Set cell round trip", .timeLimit(.minutes(5)))
struct SetCellTests {
    static let alphabet: [Unicode.Scalar] = [";", "\\", " ", "\t", "\u{A0}", "\u{200B}", "a", "\u{301}", "\u{742}", "\n", "é"]

    static let memberGen = Gen.int(in: 0...(alphabet.count - 1)).array(of: 1...6).map(scalarText(from: alphabet))


    @Test(arguments: [
        ["\u{742}b&lect", "rergy"], ["rergy", "\u{742}b&lect"], ["a;b"], ["C:\\data\\"], [" edge "], ["\\;"], ["\\"], ["  "],
        ["\t\u{301}"], ["x\\ y"], ["C:\\", "D:\\"], ["a\\ "], ["\\\\server\\share", "x"], ["\u{200B}"],
    ])
    func membersThatLookLikeSyntaxStayWhole(_ members: [String]) {
        #expect(scalarsOf(SetCell.split(SetCell.join(members))) == scalarsOf(members))
    }

    @Test func anyMembersRoundTrip() async {
        await propertyCheck(count: 3_000, input: Self.memberGen.array(of: 0...4)) { members in
            #expect(scalarsOf(SetCell.split(SetCell.join(members))) == scalarsOf(members))
        }
    }

    /// A cell that went through a CSV line and back still splits to the members.
    @Test func anyMembersRoundTripThroughCSV() async {
        await propertyCheck(count: 1_000, input: Self.memberGen.array(of: 1...4)) { members in
            let cell = try? CSV.parse(CSV.line(["id", SetCell.join(members)]) + "\n").first?.fields.last
            #expect(cell.map { scalarsOf(SetCell.split($0)) } == scalarsOf(members))
        }
    }

    @Test func handWrittenCellsReadAsBefore() {
        #expect(SetCell.split("electric vehicles; renewable energy") == ["electric vehicles", "renewable energy"])
        #expect(SetCell.split(" a ;; b;") == ["a", "b"])
        #expect(SetCell.split("") == [])
        #expect(SetCell.split("C:\\data") == ["C:\\data"])
        #expect(SetCell.split("a\\;b; c") == ["a;b", "c"])
        // Backslashes not before `;` or a blank are kept as written.
        #expect(SetCell.split("\\\\server\\share; foo\\\\bar") == ["\\\\server\\share", "foo\\\\bar"])
        #expect(SetCell.split("a\\") == ["a\\"])
        #expect(SetCell.split("a\\\\; b") == ["a\\", "b"])
        // U+200B is trimmed, as earlier versions (Foundation's whitespace set) did;
        // escaped, it is kept, and join escapes it.
        #expect(SetCell.split("\u{200B}x\u{200B}").map { Array($0.unicodeScalars) } == [["x"]])
        #expect(SetCell.split(SetCell.join(["\u{200B}x"])).map { Array($0.unicodeScalars) } == [["\u{200B}", "x"]])
    }

    /// CRLF JSONL: the line ending is one `Character`, split on the scalar.
    @Test func jsonlWithCRLFLineEndingsParses() throws {
        let text = "{\"id\": \"fr\", \"fields\": {\"name\": \"France\"}}\r\n{\"id\": \"de\", \"fields\": {\"name\": \"Germany\"}}\r\n"
        let rows = try RecordFile.parse(text, format: .jsonl, collection: "countries", schema: .criticalMinerals)
        #expect(rows.map(\.ref.id) == ["fr", "de"])
    }
}
