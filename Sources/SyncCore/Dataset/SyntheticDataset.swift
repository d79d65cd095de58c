import Foundation

/// Deterministic synthetic records in the shipped schema, for benchmarks and
/// large-sync tests: agreements with up to eight slots each (existence, text
/// fields of realistic length, enums, set members), written by `replica`.
public enum SyntheticDataset {
    static let statuses = ["proposed", "negotiating", "active", "suspended", "expired"]
    static let kinds = ["initiative", "concession", "supply", "export-control", "license"]

    /// `count` slot states, eight per record (the last record may be cut short).
    public static func slotChanges(count: Int, replica: ReplicaID) -> [SlotChange] {
        var changes: [SlotChange] = []
        changes.reserveCapacity(count)
        var record = 0
        while changes.count < count {
            changes.append(contentsOf: slots(record: record, replica: replica).prefix(count - changes.count))
            record += 1
        }
        return changes
    }

    /// `records` whole records of `slotsPerRecord` slots (1–8; the first is
    /// existence, the second the required title), numbered from `first`.
    public static func records(_ records: Int, first: Int = 0, slotsPerRecord: Int = 8, replica: ReplicaID) -> [SlotChange] {
        (first..<(first + records)).flatMap { slots(record: $0, replica: replica).prefix(max(2, slotsPerRecord)) }
    }

    /// The id of synthetic record number `record`.
    public static func id(_ record: Int) -> String { "agreement-\(record)" }

    static func slots(record: Int, replica: ReplicaID) -> [SlotChange] {
        let id = id(record)
        let dot = Dot(replica: replica, counter: UInt64(record + 1))
        let hlc = HLC(millis: 1_763_942_400_000 + UInt64(record), logical: 0)
        func change(_ field: String, _ element: String = "", value: Value) -> SlotChange {
            SlotChange(key: SlotKey(collection: "agreements", record: id, field: field, element: element),
                       state: SlotMerge.write(Version(dot: dot, hlc: hlc, author: "synthetic", value: value), over: .empty))
        }
        return [
            change("_exists", value: .bool(true)),
            change("title", value: .text("Synthetic agreement number \(record) on critical minerals supply")),
            change("kind", value: .text(kinds[record % kinds.count])),
            change("status", value: .text(statuses[record % statuses.count])),
            change("announced", value: .text("2025-\(String(format: "%02d", record % 12 + 1))-15")),
            change("summary", value: .text(String(repeating: "A deal on cobalt, lithium and rare earths between two parties. ", count: 3))),
            change("parties", "countries/c\(record % 50)", value: .bool(true)),
            change("minerals", "minerals/m\(record % 10)", value: .bool(true)),
        ]
    }
}
