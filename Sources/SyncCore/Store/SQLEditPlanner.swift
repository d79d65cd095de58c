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
///   column that no longer holds what the statement read (`effectiveRead`)
///   — a peer's merge landed before the take-up — refuses the edit unless
///   it is retried with force: nothing is superseded unseen.
/// - A set column's members, in canonical spelling (`validateMember`), are
///   compared with the array before: members added and removed there
///   become member adds and removes, so members a peer added meanwhile stay.
/// - An INSERT creates the record (re-creates one that was deleted); a
///   record created meanwhile elsewhere refuses it.
/// - A DELETE deletes the record, unless a column changed since the
///   statement read it (the delete would undo that edit unseen).
/// - Each slot is written at most once (`Writes`): one version per slot per dot.
enum SQLEditPlanner {
    /// What the statement read, column by column (`id` first): its row
    /// before, except where that row was the previous queued edit's row of
    /// the same record — then what that edit had read (it was not replicated
    /// when refused) or what it wrote (when it was). `last` is that edit's
    /// row and `seen` that per column, as the transaction that took it up
    /// kept them (`SQLEditReads`). Cells compared by class and bytes.
    static func effectiveRead(old: [SQLCell], last: [SQLCell]?, seen: [SQLCell]?) -> [SQLCell] {
        guard let last, let seen, last.count == old.count, seen.count == old.count else { return old }
        return old.indices.map { old[$0].isIdentical(to: last[$0]) ? seen[$0] : old[$0] }
    }

    /// `seen` after an edit: the cells the replicated state now holds
    /// (`view`, read after the edit) where the edit wrote, or where it
    /// holds exactly the cell the edit's row showed (`inserted`) and the
    /// field is not in conflict (written before by someone else, so the
    /// edit had nothing to write there; the next edit, made on that row, saw
    /// it; a conflicted field shows one value of several, and the others
    /// were not seen), what it read elsewhere. After a written INSERT (`read`
    /// nil: no row before) the whole row is what the state holds (an empty
    /// set writes nothing, yet reads `[]`); after a refused one, nothing was seen.
    static func seenAfter(read: [SQLCell]?, inserted: [SQLCell], plan: SQLEditPlan, view: RecordView?, collection: CollectionSchema) -> [SQLCell] {
        let width = collection.fields.count + 1
        let wasInsert = read == nil
        let read = read ?? Array(repeating: .null, count: width)
        guard let view, let after = cells(view, collection), after.count == width, read.count == width else { return read }
        let written: Set<UTF8Key>
        switch plan {
        case .refused: return read
        case .nothing: written = []
        case .write(_, let writes):
            if wasInsert, inserted.count == width { return after }
            written = Set(writes.map { UTF8Key($0.key.field) })
        }
        let shown = inserted.count == width && !view.existence.isConflicted ? inserted : nil
        return read.indices.map { index in
            let field = index > 0 ? collection.fields[index - 1] : nil
            if let field, written.contains(UTF8Key(field.name)) { return after[index] }
            if let shown, shown[index].isIdentical(to: after[index]), !(field.flatMap { view.scalar($0.name)?.isConflicted } ?? false) { return after[index] }
            return read[index]
        }
    }

    /// The cells of a record's row as the readers compute it (nil: no row).
    static func cells(_ view: RecordView?, _ collection: CollectionSchema) -> [SQLCell]? {
        guard let view, view.exists else { return nil }
        let row = ViewRow(collection, view: view)
        return [.text(Array(view.ref.id.utf8))] + collection.fields.indices.map { index in
            collection.fields[index].isSet ? .text(CollectionViews.jsonArrayBytes(row.members[index])) : SQLCell(row.values[index], in: collection.fields[index])
        }
    }

    /// - Parameter read: what the statement read (`effectiveRead`); the
    ///   row before when nil.
    static func plan(_ edit: QueuedSQLEdit, collection: CollectionSchema, current: RecordView?,
                     read: [SQLCell]? = nil, maxTextBytes: Int = ReceiveLimits().maxTextBytes) -> SQLEditPlan {
        let width = collection.fields.count + 1
        let hasOld = edit.operation != .insert, hasNew = edit.operation != .delete
        guard edit.old.count == (hasOld ? width : 0), edit.new.count == (hasNew ? width : 0) else {
            return .refused(nil, "the queued row has \(edit.row.count) columns, the table \(width): the schema changed since the edit was made")
        }
        guard let id = edit.idCell.utf8Text else { return .refused(nil, "the id \(edit.idCell.display) is not text") }
        do { try RecordIDRule.check(id) } catch { return .refused(nil, "\(error)") }
        let ref = RecordRef(collection: collection.name, id: id)
        let read = read ?? edit.old
        func key(_ field: String, _ element: String = "") -> SlotKey {
            SlotKey(collection: collection.name, record: id, field: field, element: element)
        }
        if current?.existence.isConflicted == true, !(edit.operation == .insert && edit.forced) {
            return .refused(ref, "\(ref) was deleted on one replica and edited on another: settle that first with `syncctl resolve \(ref) _exists`")
        }
        let exists = current?.exists ?? false
        let now = cells(current, collection)
        var writes = Writes()
        do {
            switch edit.operation {
            case .delete:
                guard exists, let now else { return .nothing(ref) }
                // A delete supersedes the `_exists` every edit writes: a
                // change made since the statement read the row would be
                // undone unseen.
                if !edit.forced, let changed = collection.fields.indices.first(where: { now[$0 + 1] != read[$0 + 1] }) {
                    let field = collection.fields[changed].name
                    return .refused(ref, "\(field) of \(ref) changed after this delete was made (it read \(read[changed + 1].display), it is now \(now[changed + 1].display)): `syncctl sql retry \(edit.edit)` deletes it anyway, `syncctl sql discard \(edit.edit)` keeps the record")
                }
                writes.append(key(SlotKey.existsField), .bool(false))
                return .write(ref, writes.list)
            case .insert:
                if exists, !edit.forced {
                    return .refused(ref, "\(ref) was created meanwhile on another replica: edit it with UPDATE, or `syncctl sql retry \(edit.edit)` to create it over that one")
                }
                writes.append(key(SlotKey.existsField), .bool(true))
                var missing: [String] = []
                for (offset, field) in collection.fields.enumerated() {
                    let cell = edit.new[offset + 1]
                    if field.isSet {
                        let wanted = try canonicalMembers(cell, field)
                        let present = presentMembers(current, field)
                        for member in wanted where present[UTF8Key(member)] == nil { writes.append(key(field.name, member), .bool(true)) }
                        // A re-created record keeps none of the old members it does not list.
                        for (canonical, stored) in present where !wanted.contains(where: { UTF8Identity.equal($0, canonical.string) }) {
                            for member in stored { writes.append(key(field.name, member), .bool(false)) }
                        }
                    } else {
                        let value = try scalar(cell, field, maxTextBytes: maxTextBytes)
                        if value == .null, field.isRequired { missing.append(field.name) }
                        // A re-created record writes every field, null included
                        // (replication-model §2.2).
                        if value != .null || current != nil { writes.append(key(field.name), value) }
                    }
                }
                if !missing.isEmpty { throw SchemaError.missingRequired(record: ref.description, fields: missing) }
                return .write(ref, writes.list)
            case .update:
                guard exists, let now else {
                    return .refused(ref, "\(ref) was deleted before this edit was taken up: INSERT it again to bring it back")
                }
                for (offset, field) in collection.fields.enumerated() {
                    let before = edit.old[offset + 1], after = edit.new[offset + 1]
                    guard before != after else { continue }
                    if field.isSet {
                        let was = Set(canonicalMembersLeniently(before, field).map(UTF8Key.init))
                        let wanted = try canonicalMembers(after, field)
                        let wantedKeys = Set(wanted.map(UTF8Key.init))
                        let present = presentMembers(current, field)
                        for member in wanted where !was.contains(UTF8Key(member)) && present[UTF8Key(member)] == nil {
                            writes.append(key(field.name, member), .bool(true))
                        }
                        for removed in was.subtracting(wantedKeys) {
                            for member in present[removed] ?? [] { writes.append(key(field.name, member), .bool(false)) }
                        }
                        continue
                    }
                    let value = try scalar(after, field, maxTextBytes: maxTextBytes)
                    if value == .null, field.isRequired { throw SchemaError.missingRequired(record: ref.description, fields: [field.name]) }
                    let stored = now[offset + 1]
                    // Already what the edit asks (and not in conflict): nothing to
                    // supersede. As a value too, not only as a cell: text "12" and
                    // the integer 12 are one cell in an INTEGER column.
                    // A field never written reads as null.
                    let reading = current?.scalar(field.name)
                    if stored == SQLCell(value, in: field), !(reading?.isConflicted ?? false), (reading?.value ?? .null) == value { continue }
                    if !edit.forced, stored != read[offset + 1] {
                        return .refused(ref, "\(field.name) of \(ref) changed after this edit was made (it read \(read[offset + 1].display), it is now \(stored.display)): `syncctl sql retry \(edit.edit)` writes it anyway, `syncctl sql discard \(edit.edit)` drops it")
                    }
                    writes.append(key(field.name), value)
                }
                guard !writes.isEmpty else { return .nothing(ref) }
                // replication-model §2.2: every edit writes `_exists = true`, so a concurrent delete conflicts.
                return .write(ref, [.init(key: key(SlotKey.existsField), value: .bool(true))] + writes.list)
            }
        } catch {
            return .refused(ref, "\(error)")
        }
    }

    /// Slot writes with one value per slot (the last said wins), in order.
    struct Writes {
        private(set) var list: [SQLEditPlan.SlotWrite] = []
        private var index: [SlotKey: Int] = [:]
        var isEmpty: Bool { list.isEmpty }

        mutating func append(_ key: SlotKey, _ value: Value) {
            if let at = index[key] { list[at] = .init(key: key, value: value); return }
            index[key] = list.count
            list.append(.init(key: key, value: value))
        }
    }

    /// The present members of a set field, by canonical spelling (what
    /// `validateMember` makes of them), each with the stored spellings.
    static func presentMembers(_ view: RecordView?, _ field: FieldSchema) -> [UTF8Key: [String]] {
        var present: [UTF8Key: [String]] = [:]
        for member in view?.presentMembers(field.name) ?? [] {
            present[UTF8Key((try? field.validateMember(member)) ?? member), default: []].append(member)
        }
        return present
    }

    /// A set column's members in canonical spelling, each once (by bytes).
    static func canonicalMembers(_ cell: SQLCell, _ field: FieldSchema) throws -> [String] {
        var seen = Set<UTF8Key>()
        return try members(cell, field).map { try field.validateMember($0) }.filter { seen.insert(UTF8Key($0)).inserted }
    }

    /// The members a column held before (as the table showed them): canonical
    /// where they are valid, as written where not.
    static func canonicalMembersLeniently(_ cell: SQLCell, _ field: FieldSchema) -> [String] {
        ((try? members(cell, field)) ?? []).map { (try? field.validateMember($0)) ?? $0 }
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
