import SyncCore

/// A small JSON writer for the one answer that must be fast on large
/// collections: a page of records. Foundation's encoder spends most of a
/// page's time on dictionaries and key sorting; this writes bytes directly,
/// in the same shape and key order (`ListJSON.Row`, keys sorted).
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 16_384) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func value(_ value: Value) {
        switch value {
        case .null: raw("null")
        case .bool(let flag): flag ? raw("true") : raw("false")
        case .int(let number): bytes += Array(String(number).utf8)
        case .text(let text): string(text)
        }
    }

    /// `{"collection":…,"next":…,"records":[{"conflicted":…,"fields":{…},"id":…},…]}`
    static func page(collection: String, records: [ListedRecord], fields: [FieldSchema], next: String?) -> [UInt8] {
        var writer = JSONWriter(capacity: 512 * max(1, records.count))
        let sorted = fields.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        writer.raw("{\"collection\":")
        writer.string(collection)
        if let next {
            writer.raw(",\"next\":")
            writer.string(next)
        }
        writer.raw(",\"records\":[")
        for (index, record) in records.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.raw("{\"conflicted\":")
            record.isConflicted ? writer.raw("true") : writer.raw("false")
            writer.raw(",\"fields\":{")
            for (offset, field) in sorted.enumerated() {
                if offset > 0 { writer.raw(",") }
                writer.string(field.name)
                writer.raw(":")
                if field.isSet {
                    writer.raw("[")
                    for (position, member) in (record.members[field.name] ?? []).enumerated() {
                        if position > 0 { writer.raw(",") }
                        writer.string(member)
                    }
                    writer.raw("]")
                } else {
                    writer.value(record.values[field.name] ?? .null)
                }
            }
            writer.raw("},\"id\":")
            writer.string(record.ref.id)
            writer.raw("}")
        }
        writer.raw("]}")
        return writer.bytes
    }
}
