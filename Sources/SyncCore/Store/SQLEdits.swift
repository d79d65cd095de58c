import GRDB
import GRDBSQLite

/// What one take-up of queued SQL edits did.
public struct SQLEditReport: Sendable, Equatable {
    /// Edits written as local writes.
    public var applied = 0
    /// Edits that changed nothing (an UPDATE that wrote what was there).
    public var unchanged = 0
    /// Edits refused this time, with their reasons (kept in the queue).
    public var refused: [QueuedSQLEdit] = []
    /// The dots of the local writes (one per transaction).
    public var dots: [Dot] = []

    public var isEmpty: Bool { applied == 0 && unchanged == 0 && refused.isEmpty }
}

/// How many SQL edits wait, and how many were refused.
public struct SQLEditCounts: Sendable, Equatable, Codable {
    public var pending = 0
    public var refused = 0

    public init(pending: Int = 0, refused: Int = 0) {
        self.pending = pending
        self.refused = refused
    }
}

extension Store {
    /// At most this many queued edits are read per write transaction, so a
    /// million-row UPDATE is taken up in bounded memory (docs/sql.md).
    public static let sqlEditBatch = 10_000

    /// Takes up the edits other SQLite clients made to the collection tables
    /// (`SQLEditQueue`), oldest first, as local writes by `author`: one
    /// transaction (one dot) per batch, each edit's queue row removed in the
    /// transaction that writes it. An edit that cannot be written stays in
    /// the queue with its reason, and its table row is rewritten from the
    /// replicated state, so the table never shows what was not replicated.
    @discardableResult
    public func takeUpSQLEdits(author: String, batch: Int = Store.sqlEditBatch) throws -> SQLEditReport {
        var report = SQLEditReport()
        // What each record's row was after its last edit taken up in this
        // run: an edit made on top of an earlier one (refused or not) read
        // that, not the replicated state.
        var bases: [RecordRef: [SQLCell]] = [:]
        let maxTextBytes = options.receiveLimits.maxTextBytes
        let wall = Int64(options.wallClock())
        var limit = batch
        while true {
            var more = false
            // Counted into the report only once the transaction commits.
            var chunk = SQLEditReport()
            let receipt: WriteReceipt
            do {
                receipt = try localTransaction(author: author) { tx in
                    let pending = try Self.queuedSQLEdits(schema: schema, pendingOnly: true, limit: limit, in: tx.db)
                    more = pending.count == limit
                    var touched = Set<RecordRef>()
                    var processed: Int64?
                    let views = CollectionViews(schema: schema)
                    for edit in pending {
                        guard let collection = schema.collection(edit.collection) else { continue }
                        let ref = edit.idCell.utf8Text.map { RecordRef(collection: collection.name, id: $0) }
                        if let ref, touched.contains(ref) {
                            // One version per slot per dot: the next edit of this record goes in the next transaction.
                            more = true
                            break
                        }
                        let current = try ref.flatMap { try tx.writer.view(of: $0) }
                        let plan = SQLEditPlanner.plan(edit, collection: collection, current: current, base: ref.flatMap { bases[$0] }, maxTextBytes: maxTextBytes)
                        switch plan {
                        case .write(let ref, let writes):
                            for write in writes { try tx.write(write.key, write.value) }
                            chunk.applied += 1
                        case .nothing(let ref):
                            if let ref { try views.refresh(ref, in: tx.db) }
                            chunk.unchanged += 1
                        case .refused(let ref, let reason):
                            try tx.db.execute(sql: "UPDATE \(SQLEditQueue.tableName(edit.collection).quotedDatabaseIdentifier) SET reason = ?, refused_at = ?, forced = 0 WHERE edit = ?",
                                              arguments: [reason, wall, edit.edit])
                            if let ref { try views.refresh(ref, in: tx.db) }
                            chunk.refused.append(QueuedSQLEdit(edit: edit.edit, collection: edit.collection, operation: edit.operation, at: edit.at,
                                                                old: edit.old, new: edit.new, reason: reason, refusedAt: wall))
                        }
                        if let ref {
                            touched.insert(ref)
                            bases[ref] = edit.new.isEmpty ? nil : edit.new
                        }
                        processed = edit.edit
                    }
                    // Every pending edit up to the last one handled was written
                    // (refused ones now carry a reason): removed in one statement
                    // per collection, in the transaction that wrote them.
                    if let processed { try Self.removeTakenUpSQLEdits(upTo: processed, schema: schema, in: tx.db) }
                }
            } catch where !Self.isTransient(error) {
                // An edit the planner passed but the write refused (nothing
                // was written: the transaction rolled back). So that one edit
                // never holds up the queue: the batch again one edit at a
                // time, and the edit that fails alone is kept with the error.
                if limit > 1 {
                    limit = 1
                    continue
                }
                guard let edit = try refuseFirstPendingSQLEdit(reason: "could not be written: \(error)", at: wall) else { return report }
                report.refused.append(edit)
                limit = batch
                continue
            }
            report.applied += chunk.applied
            report.unchanged += chunk.unchanged
            report.refused += chunk.refused
            if let dot = receipt.dot { report.dots.append(dot) }
            if !more { return report }
        }
    }

    /// Failures that say nothing about the edit (a busy or full disk, a
    /// clock behind): the queue stays as it is and the next poll tries again.
    static func isTransient(_ error: Error) -> Bool {
        if let error = error as? DatabaseError {
            return [.SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_INTERRUPT, .SQLITE_NOMEM, .SQLITE_CANTOPEN]
                .contains(error.resultCode)
        }
        if case StoreError.clockBehind = error { return true }
        return false
    }

    /// Marks the oldest pending edit refused with `reason` and rewrites its row.
    private func refuseFirstPendingSQLEdit(reason: String, at wall: Int64) throws -> QueuedSQLEdit? {
        try pool.write { db in
            guard let edit = try Self.queuedSQLEdits(schema: schema, pendingOnly: true, limit: 1, in: db).first else { return nil }
            try db.execute(sql: "UPDATE \(SQLEditQueue.tableName(edit.collection).quotedDatabaseIdentifier) SET reason = ?, refused_at = ?, forced = 0 WHERE edit = ?",
                           arguments: [reason, wall, edit.edit])
            if let id = edit.idCell.utf8Text { try CollectionViews(schema: schema).refresh(RecordRef(collection: edit.collection, id: id), in: db) }
            return QueuedSQLEdit(edit: edit.edit, collection: edit.collection, operation: edit.operation, at: edit.at,
                                 old: edit.old, new: edit.new, reason: reason, refusedAt: wall)
        }
    }

    /// `queuedSQLEdits` returns the lowest pending edits in number order, so
    /// every pending edit numbered up to `last` was among those handled.
    private static func removeTakenUpSQLEdits(upTo last: Int64, schema: Schema, in db: Database) throws {
        for collection in schema.collections {
            let table = SQLEditQueue.tableName(collection.name)
            guard try db.tableExists(table) else { continue }
            try db.execute(sql: "DELETE FROM \(table.quotedDatabaseIdentifier) WHERE reason IS NULL AND edit <= ?", arguments: [last])
        }
    }

    /// Whether any SQL edit waits to be taken up (cheap: one indexed probe per collection).
    public func hasPendingSQLEdits() throws -> Bool {
        try pool.read { db in
            for collection in schema.collections {
                let table = SQLEditQueue.tableName(collection.name)
                guard try db.tableExists(table) else { continue }
                if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(table.quotedDatabaseIdentifier) WHERE reason IS NULL)") == true { return true }
            }
            return false
        }
    }

    /// How many SQL edits wait and how many were refused.
    public func sqlEditCounts() throws -> SQLEditCounts {
        try pool.read { db in
            var counts = SQLEditCounts()
            for collection in schema.collections {
                let table = SQLEditQueue.tableName(collection.name)
                guard try db.tableExists(table), let row = try Row.fetchOne(db, sql: "SELECT count(*), count(reason) FROM \(table.quotedDatabaseIdentifier)") else { continue }
                let total: Int = row[0], refused: Int = row[1]
                counts.pending += total - refused
                counts.refused += refused
            }
            return counts
        }
    }

    /// The queued SQL edits (refused ones only, unless `pendingOnly` is
    /// false and `refusedOnly` is false: all), oldest first, at most `limit`.
    public func sqlEdits(refusedOnly: Bool = true, limit: Int = 1_000) throws -> [QueuedSQLEdit] {
        try pool.read { db in try Self.queuedSQLEdits(schema: schema, pendingOnly: false, refusedOnly: refusedOnly, limit: limit, in: db) }
    }

    /// Makes refused edits pending again, to be written even where the
    /// record changed since (`nil`: every refused edit); returns how many.
    @discardableResult
    public func retrySQLEdits(_ edits: [Int64]?, author: String) throws -> (retried: Int, report: SQLEditReport) {
        let retried = try updateRefused(edits, sql: "UPDATE %@ SET reason = NULL, refused_at = NULL, forced = 1 WHERE reason IS NOT NULL")
        return (retried, try takeUpSQLEdits(author: author))
    }

    /// Drops refused edits for good (`nil`: every refused edit); returns how many.
    @discardableResult
    public func discardSQLEdits(_ edits: [Int64]?) throws -> Int {
        try updateRefused(edits, sql: "DELETE FROM %@ WHERE reason IS NOT NULL")
    }

    private func updateRefused(_ edits: [Int64]?, sql: String) throws -> Int {
        try pool.write { db in
            var count = 0
            var found = Set<Int64>()
            for collection in schema.collections {
                let table = SQLEditQueue.tableName(collection.name)
                guard try db.tableExists(table) else { continue }
                let statement = sql.replacingOccurrences(of: "%@", with: table.quotedDatabaseIdentifier)
                if let edits {
                    for edit in edits {
                        try db.execute(sql: statement + " AND edit = ?", arguments: [edit])
                        if db.changesCount > 0 { found.insert(edit) }
                        count += db.changesCount
                    }
                } else {
                    try db.execute(sql: statement)
                    count += db.changesCount
                }
            }
            if let edits, let unknown = edits.first(where: { !found.contains($0) }) {
                throw StoreError.invalidEdit("there is no refused SQL edit \(unknown): `syncctl sql list` shows them.")
            }
            return count
        }
    }

    /// Reads queued edits from every collection's queue table, merged in edit order.
    static func queuedSQLEdits(schema: Schema, pendingOnly: Bool, refusedOnly: Bool = false, limit: Int, in db: Database) throws -> [QueuedSQLEdit] {
        var all: [QueuedSQLEdit] = []
        for collection in schema.collections {
            let queue = SQLEditQueue(collection: collection)
            guard try db.tableExists(queue.table) else { continue }
            let width = queue.rowColumns.count
            let columns = (SQLEditQueue.fixedColumns + queue.rowColumns.map { "old \($0)" } + queue.rowColumns.map { "new \($0)" })
                .map(\.quotedDatabaseIdentifier).joined(separator: ", ")
            let filter = pendingOnly ? "WHERE reason IS NULL" : refusedOnly ? "WHERE reason IS NOT NULL" : ""
            let statement = try db.makeStatement(sql: "SELECT \(columns) FROM \(queue.table.quotedDatabaseIdentifier) \(filter) ORDER BY edit LIMIT \(limit)")
            let handle = statement.sqliteStatement
            defer { sqlite3_reset(handle) }
            while true {
                let code = sqlite3_step(handle)
                if code == SQLITE_DONE { break }
                guard code == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection))) }
                let operation = QueuedSQLEdit.Operation(rawValue: String(cString: sqlite3_column_text(handle, 1))) ?? .update
                let cells = (0..<(2 * width)).map { SQLCell.read(handle, Int32(SQLEditQueue.fixedColumns.count + $0)) }
                all.append(QueuedSQLEdit(
                    edit: sqlite3_column_int64(handle, 0), collection: collection.name, operation: operation,
                    at: sqlite3_column_int64(handle, 2), forced: sqlite3_column_int64(handle, 5) != 0,
                    old: operation == .insert ? [] : Array(cells[0..<width]),
                    new: operation == .delete ? [] : Array(cells[width...]),
                    reason: sqlite3_column_type(handle, 3) == SQLITE_NULL ? nil : String(cString: sqlite3_column_text(handle, 3)),
                    refusedAt: sqlite3_column_type(handle, 4) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, 4)))
            }
        }
        all.sort { $0.edit < $1.edit }
        return Array(all.prefix(limit))
    }
}
