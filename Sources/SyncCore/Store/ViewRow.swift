/// The columns of one record's row in its collection's view table (replication-model §8):
/// each field's reading in schema order (a set as its present members,
/// sorted), and whether anything is in conflict.
///
/// Built straight from a record's stored slots on the write path (one pass,
/// arrays only: building a `RecordView` and then asking it field by field
/// cost more than the SQL that stores the row), or from a `RecordView`.
struct ViewRow: Equatable {
    var exists = false
    var conflicted = false
    /// The value of each field, in `collection.fields` order (`.null` for sets).
    var values: [Value]
    /// The present members of each set field (empty for scalars).
    var members: [[String]]

    private init(fieldCount: Int) {
        values = Array(repeating: .null, count: fieldCount)
        members = Array(repeating: [], count: fieldCount)
    }

    init(_ collection: CollectionSchema, slots: [FieldElement: StoredSlot]) {
        self.init(fieldCount: collection.fields.count)
        for (name, slot) in slots {
            if name.element.isEmpty {
                // As the reader counts it: any scalar reading in conflict,
                // fields this schema does not know included.
                let reading = SlotReader.scalar(slot.state)
                if reading.isConflicted { conflicted = true }
                if name.field == SlotKey.existsField {
                    exists = reading.value == .bool(true)
                } else if let index = collection.position(of: name.field), !collection.fields[index].isSet {
                    values[index] = reading.value
                }
            } else if let index = collection.position(of: name.field), collection.fields[index].isSet,
                      SlotReader.memberPresent(slot.state) {
                members[index].append(name.element)
            }
        }
        for index in members.indices where members[index].count > 1 { members[index].sort(by: UTF8Identity.less) }
    }

    init(_ collection: CollectionSchema, view: RecordView) {
        self.init(fieldCount: collection.fields.count)
        exists = view.exists
        conflicted = view.isConflicted
        for (index, field) in collection.fields.enumerated() {
            if field.isSet {
                members[index] = view.presentMembers(field.name)
            } else {
                values[index] = view.value(field.name)
            }
        }
    }
}
