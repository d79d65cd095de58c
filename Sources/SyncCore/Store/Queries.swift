import Foundation
import GRDB

/// A conflicted slot and its siblings, winner first.
public struct SlotConflict: Hashable, Sendable {
    public let key: SlotKey
    public let siblings: [Version]
}

/// One version in a record's history.
public struct HistoryEntry: Hashable, Sendable {
    public let key: SlotKey
    public let version: Version
    /// The local seq at which this replica first applied it.
    public let appliedSeq: UInt64
    /// True while the version is still live in its slot (not superseded).
    public let isCurrent: Bool
}

/// A record as listed from its collection's view table.
public struct ListedRecord: Hashable, Sendable {
    public let ref: RecordRef
    /// Scalar fields by name (absent when null).
    public let values: [String: Value]
    /// Set fields by name: present members, sorted.
    public let members: [String: [String]]
    public let isConflicted: Bool
}

/// A stored slot that does not fit the local schema.
public struct SchemaProblem: Hashable, Sendable {
    public let key: SlotKey
    public let problem: String
    public let peer: ReplicaID?
}

/// A dot this replica and a peer held with different content (replication-model §2.3).
public struct DotCollision: Hashable, Sendable {
    public let key: SlotKey
    public let dot: Dot
    /// The peer whose batch showed it; nil for a snapshot or seed.
    public let peer: ReplicaID?
    public let seenAt: Date
}

/// One replica id this database has had, and why it was taken.
public struct ReplicaLogEntry: Hashable, Sendable {
    public let replica: ReplicaID
    public let startedAt: Date
    public let reason: String
}

/// Versions received dated further ahead than the clock-drift cap, per peer.
public struct ClockReport: Hashable, Sendable {
    public let peer: ReplicaID
    public let count: Int
    public let maxAheadMillis: UInt64
    public let lastHLC: HLC
}

extension Store {
    /// A record as a reader sees it; nil if no slot of it was ever stored.
    /// A deleted record is returned with `exists == false`.
    /// A slot's stored state; the empty state when absent.
    public func slotState(_ key: SlotKey) throws -> SlotState {
        try pool.read { try $0.slotState(key) }
    }

    /// Every stored slot, record by record in storage order (oracles and
    /// checks that read the whole replicated state; one read transaction).
    public func forEachSlot(_ body: (SlotKey, SlotState) throws -> Void) throws {
        try pool.read { db in
            try db.forEachStoredRecord { ref, slots in
                for (name, slot) in slots {
                    try body(SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element), slot.state)
                }
            }
        }
    }

    public func record(_ ref: RecordRef) throws -> RecordView? {
        try pool.read { try RecordView.load(ref, from: $0) }
    }

    /// Existing records of a collection, filtered by field values (a set field
    /// matches when the member is present), ordered by id. Reads the view table.
    public func list(_ collectionName: String, where filters: [(field: String, value: Value)] = [],
                     conflictedOnly: Bool = false, limit: Int? = nil) throws -> [ListedRecord] {
        var records: [ListedRecord] = []
        try list(collectionName, where: filters, conflictedOnly: conflictedOnly, limit: limit) { records.append($0) }
        return records
    }

    /// The same, streamed: `body` sees each record as it is read (a listing of
    /// a million records is never held in memory). With `fields`, only those
    /// fields are read.
    public func list(_ collectionName: String, where filters: [(field: String, value: Value)] = [],
                     conflictedOnly: Bool = false, limit: Int? = nil, fields: [String]? = nil,
                     _ body: (ListedRecord) throws -> Void) throws {
        let collection = try tableCollection(collectionName)
        var clauses: [String] = []
        var arguments: [DatabaseValueConvertible?] = []
        for filter in filters {
            let field = try collection.requireField(filter.field)
            let column = field.name.quotedDatabaseIdentifier
            if field.isSet, filter.value == .null {
                clauses.append(CollectionViews.emptySetClause(column))
            } else if field.isSet {
                guard case .text(let member) = filter.value else { throw StoreError.invalidEdit("filter on \(field.name): give a member") }
                clauses.append("EXISTS (SELECT 1 FROM json_each(\(column)) WHERE value = ?)")
                arguments.append(try field.validateMember(member))
            } else if filter.value == .null {
                clauses.append("\(column) IS NULL")
            } else {
                clauses.append("\(column) = ?")
                arguments.append(CollectionViews.databaseValue(try field.validate(filter.value)))
            }
        }
        if conflictedOnly { clauses.append("conflicted = 1") }
        let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let limitClause = limit.map { " LIMIT \($0)" } ?? ""
        let selected = try fields.map { try $0.map { try collection.requireField($0) } } ?? collection.fields
        let columns = (["id", "conflicted"] + selected.map(\.name)).map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        let sql = "SELECT \(columns) FROM \(collection.name.quotedDatabaseIdentifier) \(whereClause) ORDER BY id\(limitClause)"
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: sql, arguments: StatementArguments(arguments))
            while let row = try rows.next() {
                var values: [String: Value] = [:]
                var members: [String: [String]] = [:]
                for (offset, field) in selected.enumerated() {
                    let dbValue: DatabaseValue = row[offset + 2]
                    if field.isSet {
                        members[field.name] = CollectionViews.parseJSONArray(String.fromDatabaseValue(dbValue) ?? "[]")
                    } else if let value = Self.value(dbValue, for: field) {
                        values[field.name] = value
                    }
                }
                try body(ListedRecord(ref: RecordRef(collection: collection.name, id: row[0]), values: values,
                                      members: members, isConflicted: row[1]))
            }
        }
    }

    /// A view cell as a listing shows it: an integer of a boolean field is
    /// the boolean, a real its shortest decimal text; a blob is not shown.
    static func value(_ cell: SQLCell, for field: FieldSchema) -> Value? {
        switch cell {
        case .null, .blob: return nil
        case .integer(let number): return field.type == .bool ? .bool(number != 0) : .int(number)
        case .real(let number): return .text(String(number))
        case .text(let bytes): return .text(String(decoding: bytes, as: UTF8.self))
        }
    }

    static func value(_ dbValue: DatabaseValue, for field: FieldSchema) -> Value? {
        switch dbValue.storage {
        case .null: return nil
        case .int64(let number): return field.type == .bool ? .bool(number != 0) : .int(number)
        case .string(let text): return .text(text)
        case .double(let number): return .text(String(number))
        case .blob: return nil
        }
    }

    /// A collection with an SQL table; `_schema` has none (`syncctl schema show` reads it).
    func tableCollection(_ name: String) throws -> CollectionSchema { try Self.tableCollection(name, in: schema) }

    static func tableCollection(_ name: String, in schema: Schema) throws -> CollectionSchema {
        if name.hasPrefix("_") {
            throw StoreError.invalidEdit("'\(name)' holds the team's schema and is not listed like data: `syncctl schema show` prints it, `syncctl get \(name)/ID` one definition, `syncctl conflicts` its conflicts.")
        }
        return try schema.requireCollection(name)
    }

    /// Every conflicted slot, optionally within one collection or record.
    public func conflicts(in collection: String? = nil, record: String? = nil) throws -> [SlotConflict] {
        var condition = "conflicted = 1"
        var arguments: [DatabaseValueConvertible] = []
        if let collection { condition += " AND collection = ?"; arguments.append(collection) }
        if let record { condition += " AND record = ?"; arguments.append(record) }
        return try pool.read { db in
            var conflicts: [SlotConflict] = []
            try db.forEachStoredRecord(where: condition, arguments: StatementArguments(arguments), orderBy: "collection, record") { ref, slots in
                for (name, slot) in slots.sorted(by: { UTF8Identity.less($0.key.field, $1.key.field) }) where name.element.isEmpty {
                    let scalar = SlotReader.scalar(slot.state)
                    guard scalar.isConflicted else { continue }
                    conflicts.append(SlotConflict(key: SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: ""),
                                                  siblings: scalar.siblings))
                }
            }
            return conflicts
        }
    }

    /// How many slots are in conflict.
    public func conflictCount() throws -> Int {
        try conflicts().count
    }

    /// Every version ever applied to a record (or one field of it), oldest first.
    public func history(_ ref: RecordRef, field: String? = nil) throws -> [HistoryEntry] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT entries FROM sync_history WHERE record_key = ? AND collection = ? AND record = ? ORDER BY seq
                """, arguments: [HistoryKey.of(ref), ref.collection, ref.id])
            var live: [SlotKey: Set<Dot>] = [:]
            var result: [HistoryEntry] = []
            // Versions of a slot's first state are not in the rows until the
            // slot changes again (format 5): read from the record row.
            let stored = try db.storedSlots(ref)
            for (name, slot) in stored where slot.historyPending && (field == nil || UTF8Identity.equal(name.field, field!)) {
                let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                for version in slot.state.versions {
                    result.append(HistoryEntry(key: key, version: version, appliedSeq: UInt64(slot.seq), isCurrent: true))
                }
            }
            for row in rows {
                let blob: Data = row[0]
                let entries: [HistoryEntries.Entry]
                do throws(BinaryDecodingError) { entries = try HistoryEntries.decode([UInt8](blob)) } catch {
                    throw StoreError.corruptSlot(SlotKey(collection: ref.collection, record: ref.id, field: "(history)"), reason: error.description)
                }
                for entry in entries where field == nil || UTF8Identity.equal(entry.field, field!) {
                    let key = SlotKey(collection: ref.collection, record: ref.id, field: entry.field, element: entry.element)
                    if live[key] == nil { live[key] = Set((stored[FieldElement(field: entry.field, element: entry.element)]?.state.versions ?? []).map(\.dot)) }
                    result.append(HistoryEntry(key: key, version: entry.version, appliedSeq: entry.seq,
                                               isCurrent: live[key]?.contains(entry.version.dot) ?? false))
                }
            }
            return result.sorted { ($0.version.hlc, $0.version.dot) < ($1.version.hlc, $1.version.dot) }
        }
    }

    /// Stored remote slots that fail the local schema, as they stand now: a
    /// listed slot written since (a local edit, an import rewriting an enum
    /// value's allowed bytes, a newer remote state) that now fits is left
    /// out, as is a row naming a slot this store does not hold, and the
    /// reason is the current one. The row itself goes at the
    /// next schema recheck (`SchemaChanges.recheckSchemaProblems`). Each
    /// record row is decoded once (rows come by record); one that does not
    /// decode is reported, not thrown, so `syncctl status` still answers.
    /// `syncctl check` walks every slot instead (`integrityReport`).
    public func schemaProblems() throws -> [SchemaProblem] {
        let schema = self.schema
        return try pool.read { db in
            var found: [SchemaProblem] = []
            var record: (ref: RecordRef, slots: Result<[FieldElement: StoredSlot], any Error>)?
            let rows = try Row.fetchCursor(db, sql: "SELECT \(SchemaProblemRows.columns) FROM sync_schema_problems ORDER BY collection, record, field, element")
            while let row = try rows.next() {
                guard let key = SchemaProblemRows.key(row) else { continue }
                let peer = SchemaProblemRows.peer(row)
                if record?.ref != key.recordRef { record = (key.recordRef, Result { try db.storedSlots(key.recordRef) }) }
                switch record!.slots {
                case .failure(let error):
                    found.append(SchemaProblem(key: key, problem: "its record row does not decode (\(error)): restore a snapshot (`syncctl snapshot restore`)", peer: peer))
                case .success(let slots):
                    // A row naming no stored slot is no problem of this store (the recheck drops it).
                    guard let slot = slots[FieldElement(field: key.field, element: key.element)] else { continue }
                    if let problem = schema.problem(for: key, state: slot.state) { found.append(SchemaProblem(key: key, problem: problem, peer: peer)) }
                }
            }
            return found
        }
    }

    /// Peers that sent versions from the future, with how many and how far ahead.
    public func dotCollisions() throws -> [DotCollision] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT collection, record, field, element, replica, counter, peer, seen_at FROM sync_dot_collisions
                ORDER BY collection, record, field, element, replica, counter
                """).compactMap { row in
                guard let replica = ReplicaID(bytes: [UInt8](row[4] as Data)) else { return nil }
                let peer = (row[6] as Data?).flatMap { ReplicaID(bytes: [UInt8]($0)) }
                return DotCollision(key: SlotKey(collection: row[0], record: row[1], field: row[2], element: row[3]),
                                    dot: Dot(replica: replica, counter: UInt64(row[5] as Int64)), peer: peer,
                                    seenAt: Date(timeIntervalSince1970: Double(row[7] as Int64) / 1_000))
            }
        }
    }

    public func replicaLog() throws -> [ReplicaLogEntry] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT replica, started_at, reason FROM sync_replica_log ORDER BY started_at DESC, rowid DESC").compactMap { row in
                guard let replica = ReplicaID(bytes: [UInt8](row[0] as Data)) else { return nil }
                return ReplicaLogEntry(replica: replica, startedAt: Date(timeIntervalSince1970: Double(row[1] as Int64) / 1_000), reason: row[2])
            }
        }
    }

    public func clockReports() throws -> [ClockReport] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT peer, count, max_ahead_ms, last_hlc FROM sync_clock_reports ORDER BY peer").compactMap { row in
                guard let peer = ReplicaID(bytes: [UInt8](row[0] as Data)) else { return nil }
                return ClockReport(peer: peer, count: row[1], maxAheadMillis: UInt64(bitPattern: row[2]), lastHLC: HLC(raw: UInt64(bitPattern: row[3])))
            }
        }
    }

    /// Existing records per collection of the schema.
    public func recordCounts() throws -> [String: Int] {
        try pool.read { db in
            var counts: [String: Int] = [:]
            for collection in schema.tableCollections {
                counts[collection.name] = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(collection.name.quotedDatabaseIdentifier)") ?? 0
            }
            return counts
        }
    }
}
