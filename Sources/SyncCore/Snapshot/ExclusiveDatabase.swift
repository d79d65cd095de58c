import Foundation
import GRDB

/// The live `data.db`, held by one connection of this process that keeps
/// every other SQLite connection off it, so that a restore can copy a
/// snapshot into the file in place (replication-model §7).
///
/// The file keeps its name and its inode throughout: a program that has it
/// open (the `sqlite3` shell, Datasette, a script), even one this process
/// cannot see, goes through SQLite's own locks like any other connection,
/// is told "database is locked" while the restore holds the file, and then
/// reads and writes the restored content. No WAL is ever matched to the
/// wrong file, because no file ever takes another's name.
///
/// Taking the file: `locking_mode = EXCLUSIVE`, then the move out of WAL
/// mode (which folds the WAL into the file and needs every other connection
/// gone: one that has run a statement holds a shared lock until it closes),
/// then an exclusive transaction, whose lock the connection keeps until it
/// closes. Each copy into the file is one rollback-journal transaction: a
/// crash leaves a hot journal that the next opener rolls back.
final class ExclusiveDatabase {
    private let queue: DatabaseQueue

    /// How long another connection's transaction may hold the file before
    /// the restore is refused (`SnapshotError.databaseBusy`).
    static let busyTimeout: TimeInterval = 2

    /// Takes the file at `path` (creating an empty database if there is
    /// none). Throws `SnapshotError.databaseOpenElsewhere` (or
    /// `.databaseBusy` when no process can be named) while another
    /// connection uses it, and SQLite's error when the file is no database.
    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout)
        // Before the first read (GRDB reads the schema as it opens): a
        // holder is then met as "locked", never behind a header it garbled;
        // a schema this SQLite cannot parse (a view of a newer one) is no
        // reason to take the file for damaged: only pages are copied.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE; PRAGMA writable_schema = ON") }
        var opened: DatabaseQueue?
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            opened = queue
            try queue.writeWithoutTransaction { db in
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = DELETE")
                guard mode == "delete" else { throw DatabaseError(resultCode: .SQLITE_BUSY, message: "journal mode stayed \(mode ?? "unknown")") }
                try db.execute(sql: "BEGIN EXCLUSIVE; COMMIT")
            }
            self.queue = queue
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
            try? opened?.close()
            let others = FileOpeners.pids(of: path)
            throw others.isEmpty ? SnapshotError.databaseBusy(path) : SnapshotError.databaseOpenElsewhere(path, pids: others)
        } catch {
            try? opened?.close()
            throw error
        }
    }

    /// The replica id the file holds now, if it can be read.
    func replicaID() -> ReplicaID? {
        try? queue.read { db in try db.replicaID() }
    }

    /// Whether the file holds a database (an empty file holds none).
    func hasContent() throws -> Bool {
        try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 } > 0
    }

    /// Copies the whole file, as it is, to a new database at `destination`,
    /// which records its own file identity: opening it to merge it back is
    /// not taken for opening a copy (which would give it another replica
    /// id). On the disk when this returns (the copy commits with
    /// `synchronous = FULL`); its directory entry is the caller's.
    func copy(to destination: String) throws {
        let copy = try DatabaseQueue(path: destination)
        defer { try? copy.close() }
        try queue.backup(to: copy)
        // Best effort: a damaged page there must not stop the restore of a
        // damaged database (the copy then takes a new id when merged).
        guard let identity = FileIdentity.of(path: destination) else { return }
        try? copy.write { db in
            if try db.holdsTable("sync_meta") { try db.setMeta(MetaKey.fileIdentity, identity) }
        }
    }

    /// Copies the SQL edits waiting or refused in this file into the
    /// database at `path` (`RestoredSQLEdits.carry`), in one transaction,
    /// and returns how many; the file at `path` is detached again after.
    func carrySQLEdits(into path: String) throws -> Int {
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS restored", arguments: [path])
            defer { try? db.execute(sql: "DETACH DATABASE restored") }
            var carried = 0
            try db.inTransaction(.immediate) {
                carried = try RestoredSQLEdits.carry(into: "restored", in: db)
                return .commit
            }
            return carried
        }
    }

    /// Replaces the file's content with the database at `source`, in one
    /// transaction; `progress` gets the fraction copied after each step
    /// (an error it throws before the end abandons the copy), and `midway`
    /// is called once, half-way (on a file larger than the page cache,
    /// some pages are in the file by then, and the journal that restores
    /// them is on the disk). A failure (a full disk) rolls the file back
    /// to what it held.
    func replace(with source: String, progress: (Double) throws -> Void = { _ in }, midway: () -> Void = {}) throws {
        let from = try DatabaseQueue(path: source)
        defer { try? from.close() }
        let pages = try from.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
        // About a hundred steps: progress on a large file, and a point
        // inside the transaction where a test can kill the process.
        let perStep = CInt(clamping: max(16, pages / 100))
        var halfway = false
        try withoutActuallyEscaping(progress) { progress in
            try withoutActuallyEscaping(midway) { midway in
                try from.backup(to: queue, pagesPerStep: perStep) { step in
                    guard step.totalPageCount > 0 else { return }
                    try progress(Double(step.completedPageCount) / Double(step.totalPageCount))
                    if !halfway, !step.isCompleted, step.completedPageCount * 2 >= step.totalPageCount {
                        halfway = true
                        midway()
                    }
                }
            }
        }
    }

    /// Lets other connections in again.
    func close() throws {
        try queue.close()
    }
}
