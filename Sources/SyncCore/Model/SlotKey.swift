/// The unit of replication: `(collection, record, field, element)` (replication-model §1).
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

    /// Byte equality of the four names (replication-model §2.4).
    public static func == (lhs: SlotKey, rhs: SlotKey) -> Bool {
        UTF8Identity.equal(lhs.record, rhs.record) && UTF8Identity.equal(lhs.element, rhs.element)
            && UTF8Identity.equal(lhs.field, rhs.field) && UTF8Identity.equal(lhs.collection, rhs.collection)
    }

    public func hash(into hasher: inout Hasher) {
        UTF8Identity.hash(collection, into: &hasher)
        UTF8Identity.hash(record, into: &hasher)
        UTF8Identity.hash(field, into: &hasher)
        UTF8Identity.hash(element, into: &hasher)
    }

    /// Byte order of collection, then record, field and element.
    public static func < (lhs: SlotKey, rhs: SlotKey) -> Bool {
        if !UTF8Identity.equal(lhs.collection, rhs.collection) { return UTF8Identity.less(lhs.collection, rhs.collection) }
        if !UTF8Identity.equal(lhs.record, rhs.record) { return UTF8Identity.less(lhs.record, rhs.record) }
        if !UTF8Identity.equal(lhs.field, rhs.field) { return UTF8Identity.less(lhs.field, rhs.field) }
        return UTF8Identity.less(lhs.element, rhs.element)
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

    public static func == (lhs: RecordRef, rhs: RecordRef) -> Bool {
        UTF8Identity.equal(lhs.id, rhs.id) && UTF8Identity.equal(lhs.collection, rhs.collection)
    }

    public func hash(into hasher: inout Hasher) {
        UTF8Identity.hash(collection, into: &hasher)
        UTF8Identity.hash(id, into: &hasher)
    }

    public static func < (lhs: RecordRef, rhs: RecordRef) -> Bool {
        UTF8Identity.equal(lhs.collection, rhs.collection) ? UTF8Identity.less(lhs.id, rhs.id)
                                                           : UTF8Identity.less(lhs.collection, rhs.collection)
    }
}
