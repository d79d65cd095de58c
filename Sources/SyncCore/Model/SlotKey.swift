/// The unit of replication: `(collection, record, field, element)` (SPEC §1).
///
/// `element` is `""` for scalar fields and `_exists`, and the member's key for
/// set fields.
public struct SlotKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let collection: String
    public let record: String
    public let field: String
    public let element: String

    public init(collection: String, record: String, field: String, element: String = "") {
        self.collection = collection
        self.record = record
        self.field = field
        self.element = element
    }

    /// The field that records whether the record exists.
    public static let existsField = "_exists"

    public var recordRef: RecordRef { RecordRef(collection: collection, id: record) }

    public var description: String {
        element.isEmpty ? "\(collection)/\(record).\(field)" : "\(collection)/\(record).\(field)[\(element)]"
    }

    public static func < (lhs: SlotKey, rhs: SlotKey) -> Bool {
        (lhs.collection, lhs.record, lhs.field, lhs.element) < (rhs.collection, rhs.record, rhs.field, rhs.element)
    }
}

/// A record named as `COLLECTION/ID`.
public struct RecordRef: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let collection: String
    public let id: String

    public init(collection: String, id: String) {
        self.collection = collection
        self.id = id
    }

    /// Parses `COLLECTION/ID`; nil when either part is missing.
    public init?(parsing text: String) {
        guard let slash = text.firstIndex(of: "/") else { return nil }
        let collection = String(text[..<slash])
        let id = String(text[text.index(after: slash)...])
        guard !collection.isEmpty, !id.isEmpty, !id.contains("/") else { return nil }
        self.init(collection: collection, id: id)
    }

    public var description: String { "\(collection)/\(id)" }

    public static func < (lhs: RecordRef, rhs: RecordRef) -> Bool {
        (lhs.collection, lhs.id) < (rhs.collection, rhs.id)
    }
}
