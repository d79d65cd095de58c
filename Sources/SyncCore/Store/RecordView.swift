import GRDB

/// What a reader sees of one record: existence, scalar fields (with conflict
/// siblings) and set members, computed from its slots by `SlotReader`.
public struct RecordView: Sendable {
    public let ref: RecordRef
    public let existence: SlotReader.Scalar
    /// Scalar fields that have been written, by field name.
    public let scalars: [String: SlotReader.Scalar]
    /// Set fields: every member ever written, with whether it is present now.
    /// Members are keyed by their bytes: NFC and NFD spellings are two members.
    public let members: [String: [UTF8Key: Bool]]

    public var exists: Bool { existence.value == .bool(true) }

    /// True when existence or any scalar field holds ≥ 2 distinct values.
    public var isConflicted: Bool {
        existence.isConflicted || scalars.values.contains { $0.isConflicted }
    }

    /// The members of a set field present now, sorted.
    public func presentMembers(_ field: String) -> [String] {
        (members[field] ?? [:]).filter(\.value).keys.sorted().map(\.string)
    }

    public func value(_ field: String) -> Value { scalars[field]?.value ?? .null }

    /// Fields in conflict (`_exists` included), sorted.
    public var conflictedFields: [String] {
        var fields = scalars.filter { $0.value.isConflicted }.keys.sorted()
        if existence.isConflicted { fields.insert(SlotKey.existsField, at: 0) }
        return fields
    }

    /// The view of a record's stored slots; nil when it has none.
    init?(_ ref: RecordRef, _ slots: [FieldElement: StoredSlot]) {
        guard !slots.isEmpty else { return nil }
        var existence = SlotReader.Scalar(winner: nil, siblings: [])
        var scalars: [String: SlotReader.Scalar] = [:]
        var members: [String: [UTF8Key: Bool]] = [:]
        for (name, slot) in slots {
            if name.field == SlotKey.existsField, name.element.isEmpty {
                existence = SlotReader.exists(slot.state)
            } else if name.element.isEmpty {
                scalars[name.field] = SlotReader.scalar(slot.state)
            } else {
                members[name.field, default: [:]][UTF8Key(name.element)] = SlotReader.memberPresent(slot.state)
            }
        }
        self.ref = ref
        self.existence = existence
        self.scalars = scalars
        self.members = members
    }

    /// Reads a record's slots; nil when no slot of it was ever stored.
    static func load(_ ref: RecordRef, from db: Database) throws -> RecordView? {
        RecordView(ref, try db.storedSlots(ref))
    }
}

import Foundation
