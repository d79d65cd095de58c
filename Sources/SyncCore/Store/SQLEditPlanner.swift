/// One row change that another SQLite client made to a collection table,
/// as its trigger queued it (`SQLEditQueue`): the row before and after, cell
/// by cell in table order (`id`, then the schema's fields).
public struct QueuedSQLEdit: Hashable, Sendable {
    public enum Operation: String, Hashable, Sendable { case insert, update, delete }

    /// The edit's number: statements' order across all collections.
    public let edit: Int64
    public let collection: String
    public let operation: Operation
    /// When the statement ran (Unix milliseconds, the writer's clock).
    public let at: Int64
    /// `syncctl sql retry`: write it even though the record changed since.
    public let forced: Bool
    /// The row before the statement (empty for an insert).
    public let old: [SQLCell]
    /// The row after the statement (empty for a delete).
    public let new: [SQLCell]
    /// Why it was refused; nil while it waits to be taken up.
    public let reason: String?
    public let refusedAt: Int64?

    public init(edit: Int64, collection: String, operation: Operation, at: Int64, forced: Bool = false,
                old: [SQLCell], new: [SQLCell], reason: String? = nil, refusedAt: Int64? = nil) {
        self.edit = edit
        self.collection = collection
        self.operation = operation
        self.at = at
        self.forced = forced
        self.old = old
        self.new = new
        self.reason = reason
        self.refusedAt = refusedAt
    }

    /// The row as the statement left it, or as it was before a delete.
    public var row: [SQLCell] { new.isEmpty ? old : new }

    /// The record's id as the statement wrote it (bytes; printable form).
    public var idCell: SQLCell { row.first ?? .null }
}

/// What taking up one queued SQL edit writes.
enum SQLEditPlan: Equatable {
    /// Slots to write under the take-up's dot, `_exists` first.
    case write(RecordRef, [SlotWrite])
    /// Nothing to write (an UPDATE that set what was there, a DELETE of a
    /// record already gone).
    case nothing(RecordRef?)
    /// Cannot be written; kept with this reason (docs/sql.md).
    case refused(RecordRef?, String)

    struct SlotWrite: Equatable {
        let key: SlotKey
        let value: Value
    }
}

/// Turns a queued SQL edit into slot writes, the rules of docs/sql.md
/// (replication-model §8.1): pure, no I/O, so the property tests drive it.
///
/// - An UPDATE writes only the columns whose cells it changed (class and
///   bytes), so it does not supersede edits of other fields. A scalar
///   column changed since the statement read it — by a peer or another
///   writer, before this edit was taken up — refuses the edit (`stale`)
///   unless it is retried with force: nothing is superseded unseen.
/// - A set column's JSON array is compared with the array before: members
///   added and removed there become member adds and removes, so members a
///   peer added meanwhile stay.
/// - An INSERT creates the record (re-creates one that was deleted); a
///   record created meanwhile elsewhere refuses it.
/// - A DELETE deletes the record.
enum SQLEditPlanner {
    static func plan(_ edit: QueuedSQLEdit, collection: CollectionSchema, current: RecordView?,
                     base: [SQLCell]? = nil, maxTextBytes: Int = ReceiveLimits().maxTextBytes) -> SQLEditPlan {
        let width = collection.fields.count + 1
        let hasOld = edit.operation != .insert, hasNew = edit.operation != .delete
        guard edit.old.count == (hasOld ? width : 0), edit.new.count == (hasNew ? width : 0) else {
            return .refused(nil, "the queued row has \(edit.row.count) columns, the table \(width): the schema changed since the edit was made")
        }
        guard let id = edit.idCell.utf8Text else { return .refused(nil, "the id \(edit.idCell.display) is not text") }
        do { try RecordIDRule.check(id) } catch { return .refused(nil, "\(error)") }
        let ref = RecordRef(collection: collection.name, id: id)
        func key(_ field: String, _ element: String = "") -> SlotKey {
            SlotKey(collection: collection.name, record: id, field: field, element: element)
        }
        let existence = current?.existence
        if existence?.isConflicted == true, !(edit.operation == .insert && edit.forced) {
            return .refused(ref, "\(ref) was deleted on one replica and edited on another: settle that first with `syncctl resolve \(ref) _exists`")
        }
        let exists = current?.exists ?? false
        do {
            switch edit.operation {
            case .delete:
                return exists ? .write(ref, [.init(key: key(SlotKey.existsField), value: .bool(false))]) : .nothing(ref)
            case .insert:
                if exists, !edit.forced {
                    return .refused(ref, "\(ref) was created meanwhile on another replica: edit it with UPDATE, or `syncctl sql retry` to create it over that one")
                }
                var writes = [SQLEditPlan.SlotWrite(key: key(SlotKey.existsField), value: .bool(true))]
                var missing: [String] = []
                for (offset, field) in collection.fields.enumerated() {
                    let cell = edit.new[offset + 1]
                    if field.isSet {
                        let wanted = try members(cell, field)
                        let present = current?.presentMembers(field.name) ?? []
                        for member in wanted where !present.contains(where: { UTF8Identity.equal($0, member) }) {
                            writes.append(.init(key: key(field.name, try field.validateMember(member)), value: .bool(true)))
                        }
                        // A re-created record keeps none of the old members it does not list.
                        for member in present where !wanted.contains(where: { UTF8Identity.equal($0, member) }) {
                            writes.append(.init(key: key(field.name, member), value: .bool(false)))
                        }
                    } else {
                        let value = try scalar(cell, field, maxTextBytes: maxTextBytes)
                        if value == .null, field.isRequired { missing.append(field.name) }
                        // A re-created record writes every field, null included
                        // (replication-model §2.2).
                        if value != .null || current != nil { writes.append(.init(key: key(field.name), value: value)) }
                    }
                }
                if !missing.isEmpty { throw SchemaError.missingRequired(record: ref.description, fields: missing) }
                return .write(ref, writes)
            case .update:
                guard exists else {
                    return .refused(ref, "\(ref) was deleted before this edit was taken up: INSERT it again to bring it back")
                }
                let now = current.map { ViewRow(collection, view: $0) }
                var writes: [SQLEditPlan.SlotWrite] = []
                for (offset, field) in collection.fields.enumerated() {
                    let before = edit.old[offset + 1], after = edit.new[offset + 1]
                    guard before != after else { continue }
                    if field.isSet {
                        let was = (try? members(before, field)) ?? []
                        let wanted = try members(after, field)
                        let present = current?.presentMembers(field.name) ?? []
                        for member in wanted where !was.contains(where: { UTF8Identity.equal($0, member) }) {
                            let valid = try field.validateMember(member)
                            if !present.contains(where: { UTF8Identity.equal($0, valid) }) {
                                writes.append(.init(key: key(field.name, valid), value: .bool(true)))
                            }
                        }
                        for member in was where !wanted.contains(where: { UTF8Identity.equal($0, member) }) {
                            if present.contains(where: { UTF8Identity.equal($0, member) }) {
                                writes.append(.init(key: key(field.name, member), value: .bool(false)))
                            }
                        }
                        continue
                    }
                    let value = try scalar(after, field, maxTextBytes: maxTextBytes)
                    if value == .null, field.isRequired { throw SchemaError.missingRequired(record: ref.description, fields: [field.name]) }
                    let stored = SQLCell(now?.values[offset] ?? .null)
                    // Already what the edit asks (and not in conflict): nothing to supersede.
                    if stored == SQLCell(value), !(current?.scalars[field.name]?.isConflicted ?? false) { continue }
                    if !edit.forced, stored != before, base?[offset + 1] != before {
                        return .refused(ref, "\(field.name) of \(ref) changed after this edit was made (it read \(before.display), it is now \(stored.display)): `syncctl sql retry \(edit.edit)` writes it anyway, `syncctl sql discard \(edit.edit)` drops it")
                    }
                    writes.append(.init(key: key(field.name), value: value))
                }
                guard !writes.isEmpty else { return .nothing(ref) }
                // replication-model §2.2: every edit writes `_exists = true`, so a concurrent delete conflicts.
                return .write(ref, [.init(key: key(SlotKey.existsField), value: .bool(true))] + writes)
            }
        } catch {
            return .refused(ref, "\(error)")
        }
    }

    /// A scalar column's cell as the field's value, checked against the schema.
    static func scalar(_ cell: SQLCell, _ field: FieldSchema, maxTextBytes: Int) throws -> Value {
        let value: Value
        switch cell {
        case .null: return .null
        case .integer(let number):
            if field.type == .bool {
                guard number == 0 || number == 1 else {
                    throw SchemaError.invalidValue(field: field.name, value: String(number), expected: "0 or 1 (a bool)")
                }
                value = .bool(number == 1)
            } else if field.type == .integer {
                value = .int(number)
            } else {
                value = .text(String(number))
            }
        case .real(let number):
            throw SchemaError.invalidValue(field: field.name, value: String(number), expected: field.type == .integer ? "a whole number" : "text (write the number in quotes)")
        case .blob(let bytes):
            throw SchemaError.invalidValue(field: field.name, value: "BLOB of \(bytes.count) bytes", expected: "text (a BLOB cannot be replicated)")
        case .text(let bytes):
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw SchemaError.invalidValue(field: field.name, value: String(decoding: bytes.prefix(64), as: UTF8.self), expected: "valid UTF-8 text")
            }
            guard bytes.count <= maxTextBytes else {
                throw SchemaError.invalidValue(field: field.name, value: String(text.prefix(64)), expected: "at most \(maxTextBytes) bytes (it has \(bytes.count))")
            }
            guard !bytes.contains(0) else {
                throw SchemaError.invalidValue(field: field.name, value: String(text.prefix(64)), expected: "text without a NUL character (U+0000)")
            }
            value = field.type == .bool && (text == "0" || text == "1") ? .bool(text == "1") : .text(text)
        }
        return try field.validate(value)
    }

    /// A set column's cell as its members: a JSON array of strings (NULL: none).
    static func members(_ cell: SQLCell, _ field: FieldSchema) throws -> [String] {
        switch cell {
        case .null: return []
        case .text(let bytes):
            guard let members = CollectionViews.parseEscapedJSONArray(bytes) else {
                throw SchemaError.invalidValue(field: field.name, value: String(decoding: bytes.prefix(64), as: UTF8.self),
                                               expected: "a JSON array of strings, like [\"minerals/cobalt\",\"minerals/lithium\"]")
            }
            return members
        default:
            throw SchemaError.invalidValue(field: field.name, value: cell.display, expected: "a JSON array of strings")
        }
    }
}
