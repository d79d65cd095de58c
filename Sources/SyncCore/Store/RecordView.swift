import GRDB

/// What a reader sees of one record: existence, scalar fields (with conflict
/// siblings) and set members, computed from its slots by `SlotReader`.
public struct RecordView: Sendable {
    public let ref: RecordRef
    public let existence: SlotReader.Scalar
    /// Scalar fields that have been written, by field name.
    public let scalars: [String: SlotReader.Scalar]
    /// Set fields: every member ever written, with whether it is present now.
    public let members: [String: [String: Bool]]

    public var exists: Bool { existence.value == .bool(true) }

    /// True when existence or any scalar field holds ≥ 2 distinct values.
    public var isConflicted: Bool {
        existence.isConflicted || scalars.values.contains { $0.isConflicted }
    }

    /// The members of a set field present now, sorted.
    public func presentMembers(_ field: String) -> [String] {
        (members[field] ?? [:]).filter(\.value).keys.sorted()
    }

    public func value(_ field: String) -> Value { scalars[field]?.value ?? .null }

    /// Fields in conflict (`_exists` included), sorted.
    public var conflictedFields: [String] {
        var fields = scalars.filter { $0.value.isConflicted }.keys.sorted()
        if existence.isConflicted { fields.insert(SlotKey.existsField, at: 0) }
        return fields
    }

    init(ref: RecordRef, slots: [(field: String, element: String, state: SlotState)]) {
        var existence = SlotReader.Scalar(winner: nil, siblings: [])
        var scalars: [String: SlotReader.Scalar] = [:]
        var members: [String: [String: Bool]] = [:]
        for slot in slots {
            if slot.field == SlotKey.existsField {
                existence = SlotReader.exists(slot.state)
            } else if slot.element.isEmpty {
                scalars[slot.field] = SlotReader.scalar(slot.state)
            } else {
                members[slot.field, default: [:]][slot.element] = SlotReader.memberPresent(slot.state)
            }
        }
        self.ref = ref
        self.existence = existence
        self.scalars = scalars
        self.members = members
    }

    /// Reads a record's slots; nil when no slot of it was ever stored.
    static func load(_ ref: RecordRef, from db: Database) throws -> RecordView? {
        let statement = try db.cachedStatement(sql: "SELECT field, element, state FROM sync_slots WHERE collection = ? AND record = ?")
        var slots: [(field: String, element: String, state: SlotState)] = []
        let rows = try Row.fetchCursor(statement, arguments: [ref.collection, ref.id])
        while let row = try rows.next() {
            let field: String = row[0]
            let element: String = row[1]
            let key = SlotKey(collection: ref.collection, record: ref.id, field: field, element: element)
            slots.append((field, element, try SlotState.stored(row[2], key: key)))
        }
        return slots.isEmpty ? nil : RecordView(ref: ref, slots: slots)
    }
}

import Foundation
