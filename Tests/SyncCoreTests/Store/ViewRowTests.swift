import Foundation
import PropertyBased
import Testing
@testable import SyncCore

/// The view row the write path builds straight from stored slots is the one
/// the reader (`RecordView`) gives, whatever the slots hold; set columns are
/// JSON that any parser reads back.
@Suite("View rows from stored slots", .timeLimit(.minutes(3)))
struct ViewRowTests {
    static let collection = Schema.criticalMinerals.collection("agreements")!
    /// Slot names to draw from: scalars, set members, `_exists`, and names a
    /// reader must ignore (unknown fields, a scalar with an element, a set without one).
    static let names: [FieldElement] = [
        FieldElement(field: SlotKey.existsField, element: ""),
        FieldElement(field: "title", element: ""), FieldElement(field: "status", element: ""),
        FieldElement(field: "kind", element: ""), FieldElement(field: "summary", element: ""),
        FieldElement(field: "parties", element: "countries/cn"), FieldElement(field: "parties", element: "countries/au"),
        FieldElement(field: "parties", element: "organizations/eu"), FieldElement(field: "minerals", element: "minerals/li"),
        FieldElement(field: "not_in_schema", element: ""), FieldElement(field: "title", element: "stray"),
        FieldElement(field: "sources", element: ""),
        // Unknown fields a peer may hold, one name in NFC and in NFD: two
        // slots (bytes differ) that Swift's `==` takes for one.
        FieldElement(field: "caf\u{E9}", element: ""), FieldElement(field: "cafe\u{301}", element: ""),
    ]

    /// A state for `name` with values of the right kind: booleans for
    /// `_exists` and members, text for scalars (integers drawn become choices).
    static func state(_ numbers: [Int], for name: FieldElement) -> SlotState {
        let raw = slotState(from: numbers)
        let boolean = name.field == SlotKey.existsField || !name.element.isEmpty
        let versions = raw.versions.map { version in
            guard case .int(let number) = version.value else { return version }
            let value: Value = boolean ? .bool(number != 0) : .text("v\(number)")
            return Version(dot: version.dot, hlc: version.hlc, author: version.author, value: value)
        }
        return SlotState(versions: versions, context: raw.context)
    }

    static func slots(_ picks: [[Int]]) -> [FieldElement: StoredSlot] {
        var slots: [FieldElement: StoredSlot] = [:]
        for (index, numbers) in picks.enumerated() {
            let name = names[(numbers.first ?? index) % names.count]
            slots[name] = StoredSlot(seq: Int64(index + 1), echo: nil, encoded: [], state: state(numbers, for: name))
        }
        return slots
    }

    @Test func rowFromSlotsMatchesTheReader() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...1_000).array(of: 1...6).array(of: 0...12)) { picks in
            let slots = Self.slots(picks)
            let direct = ViewRow(Self.collection, slots: slots)
            guard let view = RecordView(RecordRef(collection: "agreements", id: "x"), slots) else {
                #expect(!direct.exists)
                return
            }
            #expect(direct == ViewRow(Self.collection, view: view))
            #expect(view.isConflicted == StoredRecord.isConflicted(slots), "the row's flag and the reader's agree")
        }
    }

    @Test func setColumnsAreJSONArrays() throws {
        let members = ["countries/cn", "a \"quoted\" name", "back\\slash", "tab\there", "line\nbreak", "\u{1}", "café"]
        let json = CollectionViews.jsonArray(members)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String]
        #expect(parsed == members)
        #expect(CollectionViews.parseJSONArray(json) == members)
        #expect(CollectionViews.jsonArray([]) == "[]")
        #expect(CollectionViews.jsonArray(["countries/cn", "countries/au"]) == #"["countries/cn","countries/au"]"#)
    }
}
