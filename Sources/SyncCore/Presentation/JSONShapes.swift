import Foundation

/// The JSON shapes shared by `syncctl --json` (docs/cli-json.md) and the web
/// API (docs/api.md). Keep them stable: add fields, never rename or remove.

/// A field value: null, boolean, integer or string.
public struct JSONValue: Codable, Equatable, Sendable {
    public let value: Value

    public init(_ value: Value) { self.value = value }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch value {
        case .null: try container.encodeNil()
        case .bool(let flag): try container.encode(flag)
        case .int(let number): try container.encode(number)
        case .text(let text): try container.encode(text)
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { value = .null }
        else if let flag = try? container.decode(Bool.self) { value = .bool(flag) }
        else if let number = try? container.decode(Int64.self) { value = .int(number) }
        else { value = .text(try container.decode(String.self)) }
    }
}

/// One version of a slot, as shown in conflicts and history.
public struct VersionJSON: Encodable, Sendable {
    public let value: JSONValue
    public let author: String
    public let replica: String
    /// The device that wrote it, when this replica knows it.
    public let device: String?
    public let time: Date
    public let hlc: String

    public init(_ version: Version, devices: [ReplicaID: String]) {
        value = JSONValue(version.value)
        author = version.author
        replica = version.dot.replica.hex
        device = devices[version.dot.replica]
        time = version.hlc.date
        hlc = version.hlc.description
    }
}

/// A record with every field; conflicted fields list their siblings.
public struct RecordJSON: Encodable, Sendable {
    public let collection: String
    public let id: String
    public let exists: Bool
    public let conflicted: Bool
    /// Scalars as values, sets as arrays of members.
    public let fields: [String: FieldJSON]
    /// Conflicted fields of the schema (and `_exists`), each with its siblings, winner first.
    public let conflicts: [String: [VersionJSON]]
    /// Conflicted fields the schema does not know (a peer's), by bytes of
    /// their names: a list, not an object, since two such names may differ
    /// only in normalization and an object keyed by Swift strings would
    /// keep one of them (replication-model §2.4).
    public let unknownFieldConflicts: [UnknownFieldConflictJSON]

    public struct UnknownFieldConflictJSON: Encodable, Sendable {
        public let field: String
        public let versions: [VersionJSON]
    }

    public init(_ view: RecordView, schema collection: CollectionSchema, devices: [ReplicaID: String]) {
        var fields: [String: FieldJSON] = [:]
        var conflicts: [String: [VersionJSON]] = [:]
        var unknown: [UnknownFieldConflictJSON] = []
        for field in collection.fields {
            fields[field.name] = field.isSet ? .members(view.presentMembers(field.name)) : .scalar(JSONValue(view.value(field.name)))
        }
        for name in view.conflictedFields {
            let isExists = UTF8Identity.equal(name, SlotKey.existsField)
            let siblings = (isExists ? view.existence.siblings : view.scalar(name)?.siblings ?? []).map { VersionJSON($0, devices: devices) }
            // Schema names are ASCII identifiers, unique by bytes: no two fold together.
            if isExists || collection.field(name) != nil { conflicts[name] = siblings } else { unknown.append(UnknownFieldConflictJSON(field: name, versions: siblings)) }
        }
        unknownFieldConflicts = unknown
        self.collection = view.ref.collection
        id = view.ref.id
        exists = view.exists
        conflicted = view.isConflicted
        self.fields = fields
        self.conflicts = conflicts
    }
}

public enum FieldJSON: Encodable, Sendable {
    case scalar(JSONValue)
    case members([String])

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .scalar(let value): try value.encode(to: encoder)
        case .members(let members): try members.encode(to: encoder)
        }
    }

    /// A listed record's fields, every field of the schema present.
    public static func fields(of record: ListedRecord, _ fields: [FieldSchema]) -> [String: FieldJSON] {
        Dictionary(fields.map { field in
            (field.name, field.isSet ? .members(record.members[field.name] ?? []) : .scalar(JSONValue(record.values[field.name] ?? .null)))
        }, uniquingKeysWith: { first, _ in first })
    }
}

/// The records of a collection.
public struct ListJSON: Encodable, Sendable {
    public let collection: String
    public let count: Int
    public let records: [Row]

    public init(collection: String, count: Int, records: [Row]) {
        self.collection = collection
        self.count = count
        self.records = records
    }

    public struct Row: Encodable, Sendable {
        public let id: String
        public let conflicted: Bool
        public let fields: [String: FieldJSON]

        public init(id: String, conflicted: Bool, fields: [String: FieldJSON]) {
            self.id = id
            self.conflicted = conflicted
            self.fields = fields
        }
    }
}

/// A conflicted slot with numbered siblings.
public struct ConflictJSON: Encodable, Sendable {
    public let record: String
    public let field: String
    /// Names the siblings shown; a resolution naming another token is refused.
    public let token: String
    public let siblings: [Sibling]

    public init(_ conflict: SlotConflict, devices: [ReplicaID: String]) {
        record = conflict.key.recordRef.description
        field = conflict.key.field
        token = conflict.token
        siblings = conflict.siblings.enumerated().map { Sibling(number: $0.offset + 1, version: VersionJSON($0.element, devices: devices)) }
    }

    public struct Sibling: Encodable, Sendable {
        public let number: Int
        public let version: VersionJSON
    }
}

/// Every version of a record, oldest first.
public struct HistoryJSON: Encodable, Sendable {
    public let record: String
    public let versions: [Entry]

    public init(record: RecordRef, entries: [HistoryEntry], devices: [ReplicaID: String]) {
        self.record = record.description
        versions = entries.map { entry in
            Entry(field: entry.key.field, member: entry.key.element.isEmpty ? nil : entry.key.element,
                  version: VersionJSON(entry.version, devices: devices), current: entry.isCurrent)
        }
    }

    public struct Entry: Encodable, Sendable {
        public let field: String
        /// The set member, for set fields.
        public let member: String?
        public let version: VersionJSON
        public let current: Bool
    }
}

extension SQLCell: Encodable {
    /// null, a number, a string (text that is not valid UTF-8 with U+FFFD in
    /// place of the bad bytes), or `{"base64": …}` for a BLOB.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .integer(let number): try container.encode(number)
        case .real(let number):
            // JSON has no infinities or NaN: those as strings ("inf", "-inf", "nan").
            if number.isFinite { try container.encode(number) } else { try container.encode(String(number)) }
        case .text(let bytes): try container.encode(String(decoding: bytes, as: UTF8.self))
        case .blob(let bytes): try container.encode(["base64": Data(bytes).base64EncodedString()])
        }
    }
}

/// A SQL edit of a collection table waiting to be taken up, or refused (docs/sql.md).
public struct SQLEditJSON: Encodable, Sendable {
    public let edit: Int64
    public let collection: String
    public let id: SQLCell
    /// insert, update or delete.
    public let operation: String
    public let at: Date
    /// Why it was refused; null while pending.
    public let reason: String?
    public let refusedAt: Date?
    /// The columns the statement wrote: before (null for an insert) and after (null for a delete).
    public let changes: [Change]

    public struct Change: Encodable, Sendable {
        public let column: String
        public let before: SQLCell?
        public let after: SQLCell?
    }

    public init(_ edit: QueuedSQLEdit, schema: Schema) {
        self.edit = edit.edit
        collection = edit.collection
        id = edit.idCell
        operation = edit.operation.rawValue
        at = Date(timeIntervalSince1970: Double(edit.at) / 1_000)
        reason = edit.reason
        refusedAt = edit.refusedAt.map { Date(timeIntervalSince1970: Double($0) / 1_000) }
        let columns = ["id"] + (schema.collection(edit.collection)?.fields.map(\.name) ?? [])
        changes = columns.indices.compactMap { index in
            let before = edit.old.indices.contains(index) ? edit.old[index] : nil
            let after = edit.new.indices.contains(index) ? edit.new[index] : nil
            switch edit.operation {
            case .update: guard before != after else { return nil }
            case .insert: guard after != .null, index > 0 else { return nil }
            case .delete: return nil
            }
            return Change(column: columns[index], before: before, after: after)
        }
    }
}
