import Foundation

/// Writes the current state in the import formats, so that importing an
/// export changes nothing.
public enum RecordExport {
    /// The header and rows of one collection as CSV lines.
    public static func csvLines(_ records: [ListedRecord], collection: CollectionSchema) -> [String] {
        var lines = [CSV.line(["id"] + collection.fields.map(\.name))]
        for record in records {
            lines.append(CSV.line([record.ref.id] + collection.fields.map { field in
                field.isSet ? SetCell.join(record.members[field.name] ?? []) : text(record.values[field.name])
            }))
        }
        return lines
    }

    /// One record as a JSON object (the import shape).
    public static func jsonObject(_ record: ListedRecord, collection: CollectionSchema) -> [String: Any] {
        var fields: [String: Any] = [:]
        for field in collection.fields {
            if field.isSet {
                fields[field.name] = record.members[field.name] ?? []
            } else {
                switch record.values[field.name] ?? .null {
                case .null: fields[field.name] = NSNull()
                case .bool(let flag): fields[field.name] = flag
                case .int(let number): fields[field.name] = number
                case .text(let text): fields[field.name] = text
                }
            }
        }
        return ["collection": collection.name, "id": record.ref.id, "fields": fields]
    }

    public static func jsonData(_ object: Any, pretty: Bool) throws -> Data {
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        return try JSONSerialization.data(withJSONObject: object, options: options)
    }

    static func text(_ value: Value?) -> String {
        switch value ?? .null {
        case .null: ""
        case .bool(let flag): flag ? "true" : "false"
        case .int(let number): String(number)
        case .text(let text): text
        }
    }
}
