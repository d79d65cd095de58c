import GRDB
import GRDBSQLite

/// What one take-up of queued SQL edits did.
public struct SQLEditReport: Sendable, Equatable {
    /// Edits written as local writes.
    public var applied = 0
    /// Edits that changed nothing (an UPDATE that wrote what was there).
    public var unchanged = 0
    /// Edits refused this time, with their reasons (kept in the queue): the
    /// first `keptRefusals` of them; `refusedCount` counts them all.
    public var refused: [QueuedSQLEdit] = []
    public var refusedCount = 0
    public static let keptRefusals = 100
    /// The dots of the local writes (one per transaction).
    public var dots: [Dot] = []
    /// A passing error (a full disk, a lock held too long, an I/O error)
    /// that stopped the take-up after the transactions counted here had
    /// committed; the edits after them stay queued for the next take-up.
    /// (When it comes before any commit, the take-up throws it instead.)
    public var stoppedBy: String?

    public var isEmpty: Bool { applied == 0 && unchanged == 0 && refusedCount == 0 }

    mutating func noteRefused(_ edit: QueuedSQLEdit) {
        refusedCount += 1
        if refused.count < Self.keptRefusals { refused.append(edit) }
    }

    mutating func add(_ other: SQLEditReport) {
        applied += other.applied
        unchanged += other.unchanged
        for edit in other.refused where refused.count < Self.keptRefusals { refused.append(edit) }
        refusedCount += other.refusedCount
    }
}

/// The queue rows of one write transaction: whether an edit still waits,
/// and its removal, by number, through prepared statements (indexed).
final class SQLEditQueueRows {
    let db: Database
    private var waiting: [String: FastStatement] = [:]
    private var removing: [String: FastStatement] = [:]

    init(db: Database) { self.db = db }

    func isWaiting(_ edit: QueuedSQLEdit) throws -> Bool {
        let statement = try statement(&waiting, edit.collection, "SELECT 1 FROM %@ WHERE edit = ? AND reason IS NULL")
        statement.bind(1, edit.edit)
        defer { statement.reset() }
        return try statement.step()
    }

    func remove(_ edit: QueuedSQLEdit) throws {
        let statement = try statement(&removing, edit.collection, "DELETE FROM %@ WHERE edit = ? AND reason IS NULL")
        statement.bind(1, edit.edit)
        try statement.execute()
    }

    private func statement(_ cache: inout [String: FastStatement], _ collection: String, _ sql: String) throws -> FastStatement {
        if let statement = cache[collection] { return statement }
        let statement = try FastStatement(db, sql.replacingOccurrences(of: "%@", with: SQLEditQueue.tableName(collection).quotedDatabaseIdentifier))
        cache[collection] = statement
        return statement
    }
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
    /// At most this many queued edits are read at once, and at most
    /// `sqlEditBatchBytes` of their cells, so a million-row UPDATE (or rows
    /// of megabyte texts) is taken up in bounded memory (docs/sql.md).
    public static let sqlEditBatch = 10_000
    public static let sqlEditBatchBytes = 32 << 20
    /// Cells read at most for a listing (`sql list`, the web app).
    public static let sqlEditListBytes = 8 << 20

    /// Takes up the edits other SQLite clients made to the collection tables
    /// (`SQLEditQueue`), oldest first, as local writes by `author`: one
    /// transaction (one dot) per run of edits that touch each record once,
    /// each edit's queue row removed in the transaction that writes it. An
    /// edit that cannot be written stays in the queue with its reason, and
    /// its table row is rewritten from the replicated state, so the table
    /// never shows what was not replicated.
    @discardableResult
    public func takeUpSQLEdits(author: String, batch: Int = Store.sqlEditBatch) throws -> SQLEditReport {
        var report = SQLEditReport()
        let maxTextBytes = options.receiveLimits.maxTextBytes
        let wall = Int64(options.wallClock())
        // A setting that fails every write is not the edits' fault: say so, keep them all.
        if author.utf8.contains(0) { throw StoreError.invalidEdit("the author name contains a NUL character (U+0000): fix `author` in the config; the SQL edits stay queued.") }
        var limit = batch
        // After a write failed: one edit per transaction up to this edit number.
        var singleUntil: Int64?
        // A passing error (a full disk, a lock, an I/O error) after some
        // transactions committed, wherever it comes from (a write, the
        // re-read of the queue, a refusal's own write): what committed is
        // reported, not lost behind the error, as its dots are written already.
        do {
            while true {
                let pending = try pool.read { db in
                    try Self.queuedSQLEdits(schema: schema, pendingOnly: true, limit: limit, maxBytes: Self.sqlEditBatchBytes, in: db)
                }
                guard let last = pending.last else {
                    // Nothing waits: no chain is needed any more (`SQLEditReads`).
                    // (Left for the next take-up if this fails: not the edits' failure.)
                    if (try? pool.read(SQLEditReads.holdsAny)) == true { try? pool.write(SQLEditReads.clearIfNoneWaits) }
                    return report
                }
                try prepareSQLEditReads()
                let single = limit == 1
                var start = 0
                while start < pending.count {
                    // Counted only once the transaction commits.
                    var chunk = SQLEditReport()
                    var next = start
                    do {
                        let receipt = try localTransaction(author: author) { tx in
                            next = start
                            // Another process (syncd and syncctl both take up) may have
                            // taken some up since they were read: only those still waiting,
                            // and exactly those handled are removed.
                            let queue = SQLEditQueueRows(db: tx.db)
                            var touched = Set<RecordRef>()
                            let views = CollectionViews(schema: schema)
                            // Per record, the row its last edit taken up wrote
                            // and what it read (`SQLEditPlanner.effectiveRead`):
                            // an edit made on top of an earlier one read that,
                            // not the replicated state. Kept in the database,
                            // in this transaction, for whoever takes up the next.
                            var reads = try SQLEditReads(db: tx.db)
                            while next < pending.count {
                                let edit = pending[next]
                                guard let collection = schema.collection(edit.collection), try queue.isWaiting(edit) else { next += 1; continue }
                                let ref = edit.idCell.utf8Text.map { RecordRef(collection: collection.name, id: $0) }
                                // One version per slot per dot: the next edit of this record goes in the next transaction.
                                if let ref, touched.contains(ref) { break }
                                let current = try ref.flatMap { try tx.writer.view(of: $0) }
                                let chain = try ref.flatMap { try reads.chain(for: $0, edit: edit.edit, width: collection.fields.count + 1) }
                                let read = edit.old.isEmpty ? nil : SQLEditPlanner.effectiveRead(old: edit.old, last: chain?.last, seen: chain?.seen)
                                let plan = SQLEditPlanner.plan(edit, collection: collection, current: current, read: read, maxTextBytes: maxTextBytes)
                                switch plan {
                                case .write(_, let writes):
                                    if let fault = options.sqlEditWriteFault, let error = fault(edit.edit) { throw error }
                                    for write in writes { try tx.write(write.key, write.value) }
                                    try queue.remove(edit)
                                    chunk.applied += 1
                                case .nothing(let ref):
                                    if let ref { try views.refreshUnlessRefused(ref, in: tx.db) }
                                    try queue.remove(edit)
                                    chunk.unchanged += 1
                                case .refused(let ref, let reason):
                                    try tx.db.execute(sql: "UPDATE \(SQLEditQueue.tableName(edit.collection).quotedDatabaseIdentifier) SET reason = ?, refused_at = ?, forced = 0 WHERE edit = ?",
                                                      arguments: [reason, wall, edit.edit])
                                    if let ref {
                                        try views.refreshUnlessRefused(ref, in: tx.db)
                                    } else {
                                        // No record to read it from: the row goes.
                                        try Self.deleteTableRow(id: edit.idCell, collection: collection.name, in: tx.db)
                                    }
                                    chunk.noteRefused(QueuedSQLEdit(edit: edit.edit, collection: edit.collection, operation: edit.operation, at: edit.at,
                                                                    old: edit.old, new: edit.new, reason: reason, refusedAt: wall))
                                }
                                if let ref {
                                    touched.insert(ref)
                                    if edit.new.isEmpty {
                                        try reads.keep(nil, for: ref, edit: edit.edit)
                                    } else {
                                        let after = try tx.writer.view(of: ref)
                                        try reads.keep((edit.new, SQLEditPlanner.seenAfter(read: read, inserted: edit.new, plan: plan, view: after, collection: collection)), for: ref, edit: edit.edit)
                                    }
                                }
                                next += 1
                                if limit == 1 { break }
                            }
                        }
                        report.add(chunk)
                        if let dot = receipt.dot { report.dots.append(dot) }
                        start = next
                    } catch where !Self.isTransient(error) {
                        // An edit the planner passed but the write refused (nothing
                        // was written: the transaction rolled back). So that one edit
                        // never holds up the queue: one edit per transaction up to the
                        // end of this batch, and the edit that fails alone is kept
                        // with the error.
                        if singleUntil == nil {
                            singleUntil = last.edit
                            limit = 1
                            break
                        }
                        let failing = pending[start]
                        if let edit = try refuseSQLEdit(failing, reason: "could not be written: \(error)", at: wall) { report.noteRefused(edit) }
                        start += 1
                    }
                }
                if single, let until = singleUntil, last.edit >= until {
                    singleUntil = nil
                    limit = batch
                }
            }
        } catch where Self.isTransient(error) && !(report.isEmpty && report.dots.isEmpty) {
            report.stoppedBy = "\(error)"
            return report
        }
    }

    /// Makes `SQLEditReads`' table, or replaces what a file or a client put
    /// under its name, before a take-up's transactions. One that cannot be
    /// made (for a reason other than a passing one, which stops the take-up)
    /// is logged; the take-up goes on without chains.
    private func prepareSQLEditReads() throws {
        guard try !pool.read(SQLEditReads.isInPlace) else { return }
        do {
            try pool.write(SQLEditReads.prepare)
        } catch where !Self.isTransient(error) {
            options.logger.warning("could not make the table \(SQLEditReads.table): an SQL edit made on top of an earlier one of the same row is judged against what it read", metadata: ["error": "\(error)", "path": "\(path)"])
        }
    }

    /// Removes the table row with this exact id cell (an edit refused with no record to read the row from).
    private static func deleteTableRow(id: SQLCell, collection: String, in db: Database) throws {
        let statement = try FastStatement(db, "DELETE FROM \(collection.quotedDatabaseIdentifier) WHERE id IS ?")
        switch id {
        case .text(let bytes): statement.bind(1, textBytes: bytes)
        case .blob(let bytes): statement.bind(1, blob: bytes)
        case .integer(let number): statement.bind(1, number)
        case .real(let number): sqlite3_bind_double(statement.handle, 1, number)
        case .null: statement.bindNull(1)
        }
        try statement.execute()
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

    /// Marks `edit` refused with `reason` (if it still waits) and rewrites its row.
    private func refuseSQLEdit(_ edit: QueuedSQLEdit, reason: String, at wall: Int64) throws -> QueuedSQLEdit? {
        try pool.write { db in
            try db.execute(sql: "UPDATE \(SQLEditQueue.tableName(edit.collection).quotedDatabaseIdentifier) SET reason = ?, refused_at = ?, forced = 0 WHERE edit = ? AND reason IS NULL",
                           arguments: [reason, wall, edit.edit])
            guard db.changesCount > 0 else { return nil }
            if let id = edit.idCell.utf8Text { try CollectionViews(schema: schema).refreshUnlessRefused(RecordRef(collection: edit.collection, id: id), in: db) }
            return QueuedSQLEdit(edit: edit.edit, collection: edit.collection, operation: edit.operation, at: edit.at,
                                 old: edit.old, new: edit.new, reason: reason, refusedAt: wall)
        }
    }

    /// Puts back the SQL-write triggers and queue tables if a client dropped
    /// them while the store was open; true when it had to.
    public func restoreSQLCapture() throws -> Bool {
        guard try !pool.read({ db in try SQLEditQueue.isInPlace(schema, in: db) }) else { return false }
        try pool.write { db in KeptColumns.log(try CollectionViews(schema: schema).prepare(in: db), logger: options.logger, path: path, in: db) }
        return true
    }

    /// Whether any SQL edit waits to be taken up (cheap: one indexed probe per collection).
    public func hasPendingSQLEdits() throws -> Bool {
        try pool.read { db in
            for collection in schema.tableCollections {
                let table = SQLEditQueue.tableName(collection.name)
                guard try db.holdsTable(table) else { continue }
                if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(table.quotedDatabaseIdentifier) WHERE reason IS NULL)") == true { return true }
            }
            return false
        }
    }

    /// How many SQL edits wait and how many were refused.
    public func sqlEditCounts() throws -> SQLEditCounts {
        try pool.read { db in
            var counts = SQLEditCounts()
            for collection in schema.tableCollections {
                let table = SQLEditQueue.tableName(collection.name)
                guard try db.holdsTable(table), let row = try Row.fetchOne(db, sql: "SELECT count(*), count(reason) FROM \(table.quotedDatabaseIdentifier)") else { continue }
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
        try pool.read { db in try Self.queuedSQLEdits(schema: schema, pendingOnly: false, refusedOnly: refusedOnly, limit: limit, maxBytes: Self.sqlEditListBytes, in: db) }
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
            for collection in schema.tableCollections {
                let table = SQLEditQueue.tableName(collection.name)
                guard try db.holdsTable(table) else { continue }
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
    ///
    /// At most `limit` edits, and about `maxBytes` of cells (at least one
    /// edit per table). The result is always the lowest edits in number
    /// order: where a table stopped early, nothing numbered after its last
    /// row read is returned.
    static func queuedSQLEdits(schema: Schema, pendingOnly: Bool, refusedOnly: Bool = false, limit: Int, maxBytes: Int = .max,
                               in db: Database) throws -> [QueuedSQLEdit] {
        var all: [QueuedSQLEdit] = []
        var boundary = Int64.max
        let tableBytes = max(1, maxBytes / max(1, schema.tableCollections.count))
        for collection in schema.tableCollections {
            let queue = SQLEditQueue(collection: collection)
            guard try db.holdsTable(queue.table) else { continue }
            let width = queue.rowColumns.count
            let columns = queue.expectedColumns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
            let filter = pendingOnly ? "WHERE reason IS NULL" : refusedOnly ? "WHERE reason IS NOT NULL" : ""
            let statement = try db.makeStatement(sql: "SELECT \(columns) FROM \(queue.table.quotedDatabaseIdentifier) \(filter) ORDER BY edit LIMIT \(limit)")
            let handle = statement.sqliteStatement
            defer { sqlite3_reset(handle) }
            var rows = 0, bytes = 0
            while true {
                if rows > 0, bytes >= tableBytes {
                    boundary = min(boundary, all.last?.edit ?? boundary)
                    break
                }
                let code = sqlite3_step(handle)
                if code == SQLITE_DONE {
                    if rows == limit { boundary = min(boundary, all.last?.edit ?? boundary) }
                    break
                }
                guard code == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection))) }
                let operation = QueuedSQLEdit.Operation(rawValue: String(cString: sqlite3_column_text(handle, 1))) ?? .update
                let cells = (0..<(2 * width)).map { SQLCell.read(handle, Int32(SQLEditQueue.fixedColumns.count + $0)) }
                rows += 1
                bytes += cells.reduce(0) { $0 + $1.byteCount }
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
        return Array(all.prefix { $0.edit <= boundary }.prefix(limit))
    }
}
