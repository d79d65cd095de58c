import GRDB

/// What a reader sees of one record: existence, scalar fields (with conflict
/// siblings) and set members, computed from its slots by `SlotReader`.
public struct RecordView: Sendable {
    public let ref: RecordRef
    public let existence: SlotReader.Scalar
    /// Scalar fields that have been written, by the bytes of the field's
    /// name (replication-model §2.4): a peer may hold fields this schema
    /// does not know, and two of them may differ only in normalization.
    public let scalars: [UTF8Key: SlotReader.Scalar]
    /// Set fields: every member ever written, with whether it is present now.
    /// Fields and members are keyed by their bytes: NFC and NFD spellings are two.
    public let members: [UTF8Key: [UTF8Key: Bool]]
    /// True when existence or any scalar field holds ≥ 2 distinct values
    /// (fields the schema does not know included: the row's `conflicted`
    /// flag, `StoredRecord.isConflicted`).
    public let isConflicted: Bool
    /// Fields in conflict (`_exists` first, the rest by bytes).
    public let conflictedFields: [String]

    public var exists: Bool { existence.value == .bool(true) }

    /// The reading of scalar field `field`, nil when it was never written.
    public func scalar(_ field: String) -> SlotReader.Scalar? { scalars[UTF8Key(field)] }

    /// The members of a set field present now, sorted by bytes.
    public func presentMembers(_ field: String) -> [String] {
        (members[UTF8Key(field)] ?? [:]).filter(\.value).keys.sorted().map(\.string)
    }

    public func value(_ field: String) -> Value { scalar(field)?.value ?? .null }

    /// The view of a record's stored slots; nil when it has none.
    init?(_ ref: RecordRef, _ slots: [FieldElement: StoredSlot]) {
        guard !slots.isEmpty else { return nil }
        var existence = SlotReader.Scalar(winner: nil, siblings: [])
        var scalars: [UTF8Key: SlotReader.Scalar] = [:]
        var members: [UTF8Key: [UTF8Key: Bool]] = [:]
        var conflicted: [String] = []
        for (name, slot) in slots {
            if name.element.isEmpty, UTF8Identity.equal(name.field, SlotKey.existsField) {
                existence = SlotReader.exists(slot.state)
            } else if name.element.isEmpty {
                let reading = SlotReader.scalar(slot.state)
                scalars[UTF8Key(name.field)] = reading
                if reading.isConflicted { conflicted.append(name.field) }
            } else {
                members[UTF8Key(name.field), default: [:]][UTF8Key(name.element)] = SlotReader.memberPresent(slot.state)
            }
        }
        conflicted.sort(by: UTF8Identity.less)
        if existence.isConflicted { conflicted.insert(SlotKey.existsField, at: 0) }
        self.ref = ref
        self.existence = existence
        self.scalars = scalars
        self.members = members
        self.isConflicted = !conflicted.isEmpty
        self.conflictedFields = conflicted
    }

    /// Reads a record's slots; nil when no slot of it was ever stored.
    static func load(_ ref: RecordRef, from db: Database) throws -> RecordView? {
        RecordView(ref, try db.storedSlots(ref))
    }
}

import Foundation
