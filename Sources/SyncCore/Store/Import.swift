import GRDB

/// What an import did.
public struct ImportReport: Sendable, Equatable {
    public var created = 0
    public var changed = 0
    public var unchanged = 0
    /// Slots written (one version each, all under one dot), counting the
    /// `_exists = true` every edited record also gets (replication-model §2).
    public var slotsWritten = 0
    /// The one dot every written slot got; nil when nothing was written.
    public var dot: Dot?
}

extension Store {
    /// Writes only the cells that differ from the current state, in one
    /// transaction (one dot): created, changed and unchanged records are
    /// counted. A row that cannot be written (a record whose existence is in
    /// conflict, a new record without its required fields) fails the whole
    /// import before anything is written.
    /// `knownErrors` (rows that did not parse) join the store's own findings
    /// in one report, and fail the import the same way.
    public func importRows(_ rows: [RecordRow], author: String, knownErrors: [RowError] = [], progress: (Int) -> Void = { _ in }) throws -> ImportReport {
        var report = ImportReport()
        var problems = knownErrors
        let receipt = try localTransaction(author: author) { tx in
            for (index, row) in rows.enumerated() {
                if index % 1_000 == 0 { progress(index) }
                let collection = try editableCollection(row.ref.collection)
                let current = try tx.writer.view(of: row.ref)
                func key(_ field: String, _ element: String = "") -> SlotKey {
                    SlotKey(collection: row.ref.collection, record: row.ref.id, field: field, element: element)
                }
                if let current, current.existence.isConflicted {
                    problems.append(RowError(origin: row.origin, message: "\(row.ref) was deleted on one replica and edited on another: resolve _exists first"))
                    continue
                }
                guard let current, current.exists else {
                    let missing = collection.requiredFields.filter { field in
                        if case .scalar(let value) = row.cells[field.name] { return value == .null }
                        return true
                    }
                    guard missing.isEmpty else {
                        problems.append(RowError(origin: row.origin, message: "new record \(row.ref) lacks required \(missing.map(\.name).joined(separator: ", "))"))
                        continue
                    }
                    try tx.write(key(SlotKey.existsField), .bool(true))
                    for (field, cell) in row.cells.sorted(by: { $0.key < $1.key }) {
                        switch cell {
                        case .scalar(let value): if value != .null || current?.scalar(field) != nil { try tx.write(key(field), value) }
                        case .members(let members):
                            let present = Set((current?.presentMembers(field) ?? []).map(UTF8Key.init))
                            let wanted = Set(members.map(UTF8Key.init))
                            for member in wanted.subtracting(present).sorted() { try tx.write(key(field, member.string), .bool(true)) }
                            for member in present.subtracting(wanted).sorted() { try tx.write(key(field, member.string), .bool(false)) }
                        }
                    }
                    if let current {
                        // Re-created: what the row does not say is cleared.
                        try tx.clearUnsaid(in: collection, current: current) { field, _ in row.cells[field] != nil }
                    }
                    report.created += 1
                    continue
                }
                var writes = 0
                for (field, cell) in row.cells.sorted(by: { $0.key < $1.key }) {
                    switch cell {
                    case .scalar(let value):
                        // No value over the empty text (a JSON file may give
                        // one): the same empty cell in a CSV file, which
                        // cannot tell them apart, so an export of it reads
                        // back unchanged (docs/interchange.md).
                        if value == .null, case .text(let stored) = current.value(field), stored.utf8.isEmpty { continue }
                        if collection.field(field)?.isRequired == true, value == .null {
                            problems.append(RowError(origin: row.origin, message: "\(field) is required and cannot be emptied"))
                            continue
                        }
                        // A conflicted cell shows its winner; importing that same value (same bytes) changes
                        // nothing. An enum value an earlier version stored in another spelling differs in
                        // bytes from the parsed one, so the import rewrites the allowed bytes. A value of
                        // another type than the field's (a schema problem: the integer 13 in a text field,
                        // written under a schema a concurrent change replaced) is exported as its text,
                        // which parses as the field's type: the same text is that value, unchanged.
                        let stored = current.value(field)
                        if stored != value, !Self.isExportedAs(stored, value, in: collection.field(field)) {
                            try tx.write(key(field), value)
                            writes += 1
                        }
                    case .members(let members):
                        let present = Set(current.presentMembers(field).map(UTF8Key.init))
                        let wanted = Set(members.map(UTF8Key.init))
                        for member in wanted.subtracting(present).sorted() { try tx.write(key(field, member.string), .bool(true)); writes += 1 }
                        for member in present.subtracting(wanted).sorted() { try tx.write(key(field, member.string), .bool(false)); writes += 1 }
                    }
                }
                if writes > 0 {
                    // replication-model §2: every edit writes `_exists = true`, so a concurrent delete conflicts.
                    try tx.write(key(SlotKey.existsField), .bool(true))
                    report.changed += 1
                } else {
                    report.unchanged += 1
                }
            }
            progress(rows.count)
            if !problems.isEmpty { throw RecordFileErrors(errors: problems) }
        }
        report.slotsWritten = receipt.slotsWritten
        report.dot = receipt.dot
        return report
    }

    /// Whether `stored`, a value of another type than `parsed` (neither
    /// null), is what the export writes as `parsed`: the export reads the
    /// collection table, whose cell for such a value is the one the
    /// column's affinity makes of it (`SQLCell.init(_:in:)`: the integer 13
    /// in a text field is the text `13`, `true` is `1`). Importing that
    /// export again keeps the value as it is (docs/interchange.md).
    /// Compared as cells: class and bytes.
    static func isExportedAs(_ stored: Value?, _ parsed: Value, in field: FieldSchema?) -> Bool {
        guard let stored, let field else { return false }
        switch (stored, parsed) {
        case (.null, _), (_, .null), (.int, .int), (.bool, .bool), (.text, .text): return false
        default: return SQLCell(stored, in: field).isIdentical(to: SQLCell(parsed, in: field))
        }
    }
}
