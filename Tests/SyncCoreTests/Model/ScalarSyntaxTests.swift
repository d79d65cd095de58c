import Foundation
import PropertyBased
import Testing
@testable import SyncCore
import TestSupport

/// ASCII syntax found by Unicode scalar, never by `Character`
/// (replication-model §2.4). fuzz-import found a set member opening with a
/// combining mark (U+0742) dropped from every read: the view column holds
/// `["\u{742}b"]`, and the reader looked for `"` by `Character`, where `"`
/// and the mark are one. The alphabet: JSON and edit syntax plus marks.
@Suite("Syntax found by scalar, not by Character", .timeLimit(.minutes(5)))
struct ScalarSyntaxTests {
    static let alphabet: [Unicode.Scalar] = ["\"", "\\", "=", ",", "%", "_", " ", "a", "\u{301}", "\u{742}", "\u{FEFF}", "\n", "é"]

    static let textGen = Gen.int(in: 0...(alphabet.count - 1)).array(of: 1...6).map(scalarText(from: alphabet))


    @Test func aMemberOpeningWithAMarkIsReadBackFromTheViewColumn() {
        let members = ["\u{742}b&lect", "rergy"]
        #expect(scalarsOf(CollectionViews.parseJSONArray(CollectionViews.jsonArray(members))) == scalarsOf(members))
    }

    @Test func anyMembersReadBackFromTheViewColumn() async {
        await propertyCheck(count: 3_000, input: Self.textGen.array(of: 0...4)) { members in
            #expect(scalarsOf(CollectionViews.parseJSONArray(CollectionViews.jsonArray(members))) == scalarsOf(members))
        }
    }

    /// Through a real store: imported, listed, exported as CSV, imported again.
    @Test func importListExportImportKeepsAMemberOpeningWithAMark() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let file = "id,name,category,uses\ncobalt,Cobalt,battery,\u{742}b&lect; rergy\n"
        let rows = try RecordFile.parse(file, format: .csv, collection: "minerals", schema: store.schema)
        _ = try store.importRows(rows, author: "ana")
        let listed = try #require(try store.list("minerals").first { $0.ref.id == "cobalt" })
        #expect(scalarsOf(listed.members["uses"] ?? []) == scalarsOf(["rergy", "\u{742}b&lect"]))
        let collection = try #require(store.schema.collection("minerals"))
        let export = RecordExport.csvLines([listed], collection: collection).map { $0 + "\n" }.joined()
        let again = try store.importRows(try RecordFile.parse(export, format: .csv, collection: "minerals", schema: store.schema), author: "ana")
        #expect(again.changed == 0 && again.created == 0, "importing the export changed something: \(again)")
    }

    @Test func splitOnceFindsAnEqualsSignFollowedByAMark() {
        let split = ScalarText.splitOnce("notes=\u{301}x=y", at: "=")
        #expect(split?.before == "notes")
        #expect(split.map { Array($0.after.unicodeScalars) } == Array("\u{301}x=y".unicodeScalars))
        #expect(ScalarText.splitOnce("notes", at: "=") == nil)
    }

    @Test func anySplitOnceRejoins() async {
        await propertyCheck(count: 2_000, input: Self.textGen) { text in
            if let (before, after) = ScalarText.splitOnce(text, at: "=") {
                #expect(!before.unicodeScalars.contains("="))
                #expect(Array((before + "=" + after).unicodeScalars) == Array(text.unicodeScalars))
            } else {
                #expect(!text.unicodeScalars.contains("="))
            }
        }
    }

    @Test func aLikeWildcardFollowedByAMarkIsEscaped() {
        #expect(Array(RecordPageSQL.escapeLike("%\u{301}_").unicodeScalars) == Array("\\%\u{301}\\_".unicodeScalars))
    }
}

/// The other parsers of user or peer text that looked for ASCII syntax by
/// `Character` (the review of the fuzz-import fix).
@Suite("More syntax found by scalar", .timeLimit(.minutes(5)))
struct MoreScalarSyntaxTests {
    /// A device name comes from a peer (an invitation): a quote or a
    /// backslash followed by a mark must still be escaped, or the written
    /// config no longer parses.
    @Test(arguments: ["a\"\u{301}b", "a\\\u{301}b", "\"\u{742}", "x\\"])
    func aConfigWrittenWithAMarkedQuoteParsesBack(name: String) throws {
        let text = ConfigTemplate.text(deviceName: name, author: name, listen: HostPort(host: "127.0.0.1", port: 7000))
        let config = try DaemonConfig.parse(text, path: "/tmp/syncd.yaml", defaults: DaemonConfig(deviceName: "laptop", author: "ana"))
        #expect(Array(config.deviceName.unicodeScalars) == Array(name.unicodeScalars))
        #expect(Array(config.author.unicodeScalars) == Array(name.unicodeScalars))
    }

    @Test func aCommentEndedByCRLFDoesNotHideTheStatement() {
        #expect(QueryWatch.firstKeyword("-- top\r\nSELECT 1") == "select")
        #expect(QueryWatch.firstKeyword("/**/select 1") == "select")
        #expect(QueryWatch.firstKeyword("/*/ select 1") == "")
    }

    @Test func anEnumValueIsMatchedByItsBytes() throws {
        let field = FieldSchema(name: "tone", type: .enumeration, values: ["caf\u{E9}"])
        // Another spelling stores the allowed value's bytes, not its own.
        guard case .text(let stored) = try field.validate(.text("cafe\u{301}")) else { Issue.record("not text"); return }
        #expect(Array(stored.utf8) == Array("caf\u{E9}".utf8))
        #expect(throws: SchemaError.self) { try field.validate(.text("cafe")) }
    }

    @Test func aSearchPrefixIsCutByBytesNotCharacters() {
        let long = "e" + String(repeating: "\u{301}", count: 1_000)
        #expect(ScalarText.prefix(long, maxBytes: 256).utf8.count <= 256)
        #expect(ScalarText.prefix("abc", maxBytes: 256) == "abc")
    }
}
