import Foundation
import Testing
@testable import SyncCore
@testable import SyncWeb

/// The hand-written page encoder says exactly what Foundation's encoder
/// says for the same page, for awkward text too.
@Suite struct JSONWriterTests {
    struct Page: Encodable {
        let collection: String
        let records: [ListJSON.Row]
        let next: String?
    }

    @Test func aPageDecodesToWhatFoundationsEncoderWrites() throws {
        let schema = Schema.criticalMinerals
        let collection = try schema.requireCollection("agreements")
        let texts = ["plain", "quote \" and \\ backslash", "new\nline\ttab\r", "\u{1}\u{1f}", "é e\u{301} 中文 🚀", "", "</script>"]
        var records: [ListedRecord] = []
        for (index, text) in texts.enumerated() {
            var values: [String: Value] = ["title": .text(text), "status": index % 2 == 0 ? .text("active") : .null]
            if index == 3 { values["announced"] = .text("2025") }
            records.append(ListedRecord(ref: RecordRef(collection: "agreements", id: "id-\(index)"), values: values,
                                        members: ["parties": index % 3 == 0 ? [] : ["countries/cn", text]], isConflicted: index % 2 == 1))
        }
        for next in [nil, "WyJhIiwiYiJd"] as [String?] {
            let fast = JSONWriter.page(collection: "agreements", records: records, fields: collection.fields, next: next)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let reference = try encoder.encode(Page(collection: "agreements", records: records.map {
                ListJSON.Row(id: $0.ref.id, conflicted: $0.isConflicted, fields: FieldJSON.fields(of: $0, collection.fields))
            }, next: next))
            let ours = try JSONSerialization.jsonObject(with: Data(fast)) as? NSDictionary
            let theirs = try JSONSerialization.jsonObject(with: reference) as? NSDictionary
            #expect(ours != nil && ours == theirs, "\(String(decoding: fast, as: UTF8.self))")
        }
    }
}
