import Foundation
import SyncCore

/// The `--json` shapes (documented in docs/cli-json.md; keep them stable:
/// add fields, never rename or remove).
enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// A field value: null, boolean, integer or string.
struct JSONValue: Codable, Equatable {
    let value: Value

    init(_ value: Value) { self.value = value }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch value {
        case .null: try container.encodeNil()
        case .bool(let flag): try container.encode(flag)
        case .int(let number): try container.encode(number)
        case .text(let text): try container.encode(text)
        }
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { value = .null }
        else if let flag = try? container.decode(Bool.self) { value = .bool(flag) }
        else if let number = try? container.decode(Int64.self) { value = .int(number) }
        else { value = .text(try container.decode(String.self)) }
    }
}

/// One version of a slot, as shown in conflicts and history.
struct VersionJSON: Encodable {
    let value: JSONValue
    let author: String
    let replica: String
    /// The device that wrote it, when this replica knows it.
    let device: String?
    let time: Date
    let hlc: String

    init(_ version: Version, devices: [ReplicaID: String]) {
        value = JSONValue(version.value)
        author = version.author
        replica = version.dot.replica.hex
        device = devices[version.dot.replica]
        time = version.hlc.date
        hlc = version.hlc.description
    }
}

/// `get`: a record with every field; conflicted fields list their siblings.
struct RecordJSON: Encodable {
    let collection: String
    let id: String
    let exists: Bool
    let conflicted: Bool
    /// Scalars as values, sets as arrays of members.
    let fields: [String: FieldJSON]
    /// Conflicted fields (and `_exists`), each with its siblings, winner first.
    let conflicts: [String: [VersionJSON]]
}

enum FieldJSON: Encodable {
    case scalar(JSONValue)
    case members([String])

    func encode(to encoder: Encoder) throws {
        switch self {
        case .scalar(let value): try value.encode(to: encoder)
        case .members(let members): try members.encode(to: encoder)
        }
    }
}

/// `list`: the records of a collection.
struct ListJSON: Encodable {
    let collection: String
    let count: Int
    let records: [Row]

    struct Row: Encodable {
        let id: String
        let conflicted: Bool
        let fields: [String: FieldJSON]
    }
}

/// `conflicts`: every conflicted slot with numbered siblings.
struct ConflictJSON: Encodable {
    let record: String
    let field: String
    /// Names the siblings shown; `resolve --expect TOKEN` refuses if they changed.
    let token: String
    let siblings: [Sibling]

    struct Sibling: Encodable {
        let number: Int
        let version: VersionJSON
    }
}

/// `history`: every version of a record, oldest first.
struct HistoryJSON: Encodable {
    let record: String
    let versions: [Entry]

    struct Entry: Encodable {
        let field: String
        /// The set member, for set fields.
        let member: String?
        let version: VersionJSON
        let current: Bool
    }
}
