import Foundation
import GRDB
import GRDBSQLite
import Logging

extension Store {
    /// The name a join gives the copy of the database it keeps aside until
    /// the swap's transaction names it `data.db.before-restore-…`
    /// (`adoptJoinSnapshot`).
    static let joinAsideStagingPrefix = "joining-aside-"
    /// The files SQLite keeps beside a database, by suffix.
    static let databaseCompanions = ["-wal", "-shm", "-journal"]

    /// What `keepLeftoverJoinAsides` did with one leftover staging copy.
    public enum LeftoverJoinAside: Equatable, Sendable {
        /// Named as a database kept aside: merged after the next successful sync.
        case keptAside(String)
        /// Not a store, read cleanly (a copy cut short before it held one): removed.
        case removed(String)
        /// Unreadable, or could not be renamed: left where it is, for the next
        /// start or the operator (never removed without proof it holds nothing).
        case left(String, reason: String)
    }

    /// Makes each staging copy a crash left in `directory` (`joining-aside-…`)
    /// a database kept aside, so the next successful sync merges it back
    /// (replication-model §4.6). The copy is the database as it was before a
    /// join: if the join committed and a power cut lost the copy's new name,
    /// it is the only place left of what this replica alone held; if not,
    /// merging a copy of the state kept changes nothing. It is first read as
    /// it stands (`probe`: no lock, no journal rolled back), and a rollback
    /// journal beside it is removed unread when `LeftoverJournal.isStale`
    /// says rolling it back would empty a copy whose backup had committed;
    /// otherwise the copy is opened as SQLite opens any file (a backup cut
    /// short rolls back to nothing). `liveReplica`: the database's replica id
    /// now. Only a file read cleanly that holds no store is removed; one
    /// that cannot be read is left, with an error logged. Call at start,
    /// before anything else removes leftovers named `joining-…`. (The
    /// counter was raised past a same-id copy's when the store opened:
    /// `raiseCounterPastKeptCopies`.)
    @discardableResult
    public static func keepLeftoverJoinAsides(in directory: URL, liveReplica: ReplicaID, wall: UInt64, logger: Logger) -> [LeftoverJoinAside] {
        let all = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var outcomes: [LeftoverJoinAside] = []
        for name in all.sorted() where name.hasPrefix(joinAsideStagingPrefix) {
            let path = directory.appendingPathComponent(name).path
            // Companions whose database is gone (a crash between a rename and their removal).
            if let suffix = databaseCompanions.first(where: { name.hasSuffix($0) }) {
                if !FileManager.default.fileExists(atPath: String(path.dropLast(suffix.count))) { try? FileManager.default.removeItem(atPath: path) }
                continue
            }
            if case .store(let replica, _, let complete) = probe(path),
               LeftoverJournal.isStale(copyMarkedWhole: complete, pagesBefore: LeftoverJournal.pagesBefore(journalAt: path + "-journal"),
                                       copyHasLiveReplica: replica == liveReplica) {
                try? FileManager.default.removeItem(atPath: path + "-journal")
            }
            // Its journal rolled back or its WAL folded in before anything
            // beside it is removed; left as it is if that fails.
            let found = foldedIntoOneFile(path)
            switch found {
            case .notAStore:
                removeDatabaseFiles(path)
                logger.notice("removed a copy of the database that a join had begun and a crash cut short (it held no store; data.db holds everything)",
                              metadata: ["file": "\(name)"])
                outcomes.append(.removed(name))
            case .unreadable(let reason):
                logger.error("cannot read a copy of the database that a join kept aside before a crash; it is left as it is (it may hold offline writes: open it with `sqlite3` to see, or move it away once data.db is known to hold them)",
                             metadata: ["file": "\(name)", "error": "\(reason)"])
                outcomes.append(.left(name, reason: reason))
            case .store(let replica, _, _):
                outcomes.append(keepAside(name, in: directory, replica: replica, wall: wall, logger: logger))
            }
        }
        return outcomes
    }

    /// Gives the leftover `name` a kept-aside name, never over an existing file.
    private static func keepAside(_ name: String, in directory: URL, replica: ReplicaID, wall: UInt64, logger: Logger) -> LeftoverJoinAside {
        let path = directory.appendingPathComponent(name).path
        let aside = Snapshots.keptAsideName(in: directory, at: wall)
        // The new name on the disk before the old one goes: a power cut
        // must not keep the removal and lose the link.
        var failure: String?
        if link(path, aside.path) != 0 {
            failure = String(cString: strerror(errno))
        } else {
            do { try AtomicFile.syncDirectory(of: aside.path) } catch {
                unlink(aside.path)
                failure = "\(error)"
            }
        }
        if let failure {
            logger.error("could not keep aside the database as it was before an interrupted join; it stays as it is until the next start", metadata: [
                "file": "\(name)", "error": "\(failure)"])
            return .left(name, reason: failure)
        }
        removeDatabaseFiles(path)
        logger.notice("kept aside the database as it was before a join a crash interrupted; it is merged back after the next sync", metadata: [
            "file": "\(aside.lastPathComponent)", "was": "\(name)", "replica": "\(replica)"])
        return .keptAside(aside.lastPathComponent)
    }

    /// What a leftover copy holds, read as it stands.
    enum LeftoverContent: Equatable {
        /// A store of `ReplicaID`, whose dots go up to `counter`; `complete`
        /// when marked whole by a join (`MetaKey.joinAsideComplete`).
        case store(ReplicaID, counter: UInt64, complete: Bool)
        /// Read cleanly: no store tables (or an empty file).
        case notAStore
        case unreadable(String)
    }

    /// Reads the file at `path` as it stands: read-only and `immutable`, so
    /// no lock is taken and no journal beside it is rolled back.
    static func probe(_ path: String) -> LeftoverContent {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int else { return .unreadable("cannot read its size") }
        if size == 0 { return .notAStore }
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        guard let escaped = path.addingPercentEncoding(withAllowedCharacters: allowed) else { return .unreadable("cannot name it as a URI") }
        var connection: OpaquePointer?
        defer { sqlite3_close_v2(connection) }
        guard sqlite3_open_v2("file:\(escaped)?immutable=1", &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nil) == SQLITE_OK, let connection else {
            return .unreadable(connection.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open it")
        }
        func rows(_ sql: String, _ row: (OpaquePointer) -> Void) -> String? {
            var statement: OpaquePointer?
            defer { sqlite3_finalize(statement) }
            guard sqlite3_prepare_v2(connection, sql, -1, &statement, nil) == SQLITE_OK, let statement else { return String(cString: sqlite3_errmsg(connection)) }
            while true {
                switch sqlite3_step(statement) {
                case SQLITE_ROW: row(statement)
                case SQLITE_DONE: return nil
                default: return String(cString: sqlite3_errmsg(connection))
                }
            }
        }
        var tables = 0
        if let failure = rows("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('sync_meta', 'sync_records')", { tables = Int(sqlite3_column_int64($0, 0)) }) {
            return .unreadable(failure)
        }
        guard tables == 2 else { return .notAStore }
        var replica: ReplicaID?
        if let failure = rows("SELECT value FROM sync_meta WHERE key = '\(MetaKey.replica)'", { statement in
            guard sqlite3_column_type(statement, 0) == SQLITE_BLOB, let bytes = sqlite3_column_blob(statement, 0) else { return }
            replica = ReplicaID(bytes: Data(bytes: bytes, count: Int(sqlite3_column_bytes(statement, 0))))
        }) {
            return .unreadable(failure)
        }
        // None read (or none recorded): 0, which raises nothing.
        var counter: UInt64 = 0
        _ = rows("SELECT value FROM sync_meta WHERE key = '\(MetaKey.counter)'") { counter = UInt64(max(0, sqlite3_column_int64($0, 0))) }
        var complete = false
        _ = rows("SELECT value FROM sync_meta WHERE key = '\(MetaKey.joinAsideComplete)'") { complete = sqlite3_column_int64($0, 0) == 1 }
        return replica.map { .store($0, counter: counter, complete: complete) } ?? .unreadable("it has store tables but no replica id")
    }

    /// Raises this replica's counter past every dot a copy of the database
    /// kept beside it holds under the same replica id: a join's staging copy
    /// (`joining-aside-…`) or a database kept aside (`data.db.before-restore-…`,
    /// which a join names inside its transaction). With `synchronous =
    /// NORMAL` a power cut can take the live WAL's last commits (a join's
    /// commit among them) while the copy, a synced backup, keeps them, and
    /// the copy is merged back only after the daemon's next sync. Done by
    /// every open that may write (`syncctl` too, which may write before the
    /// daemon starts again), so no process issues one of those dots again
    /// with other content (replication-model §4.6). A copy is read as it
    /// stands (`probe`); a running join may be writing it, but every counter
    /// such a copy holds was issued by this replica, so raising past it
    /// skips dots at worst. A second name of the live file (a restore cut
    /// short) is skipped. A staging copy that cannot be read as it stands
    /// (a power cut tore it) is taken up first when no daemon runs on the
    /// directory (its lock can be taken, so no join is writing the copy):
    /// as the daemon's start would (`keepLeftoverJoinAsides`), then raised
    /// past. Throws when a copy holds dots above the counter and the raise
    /// fails: the store must not be opened to write then.
    public func raiseCounterPastKeptCopies() throws {
        let directory = (path as NSString).deletingLastPathComponent
        let folder = URL(fileURLWithPath: directory.isEmpty ? "." : directory)
        guard let unreadable = try raisePastCopies(in: folder, logUnreadable: false) else { return }
        // This process is the daemon: its start takes up what a crash left.
        if DaemonLock.isHeldHere(folder) { return }
        let claim: DaemonLock
        do { claim = try DaemonLock(directory: folder, holder: "a syncctl write taking up a crash's leftovers") } catch {
            // A running daemon took up what a crash left at its start: the
            // copy is a join writing it now, and holds only dots issued here.
            // (A dead pid is a crashed daemon's name, not yet written over by
            // the new holder: no more than "try again".)
            if case .held(_, let holder?) = error as? DaemonLockError, holder.name == DaemonLock.daemonRunning, holder.isAlive { return }
            throw StoreError.cannotOpen(path: path, reason: "a copy of the database a join left (\(unreadable)) cannot be read as it stands, and the data directory cannot be taken to take it up (\(error)), so whether it holds dots this open would issue again is not known; try again in a moment (once the daemon has started, or the other syncctl is done)")
        }
        defer { withExtendedLifetime(claim) {} }
        try takeUpLeftoverJoinCopies(logger: options.logger)
    }

    /// What the daemon's start does with what a crash left beside the
    /// database (`SyncNode`, the simulator's restart, and a writer's open
    /// that took the directory's lock): staging copies kept aside
    /// (`keepLeftoverJoinAsides`), then the counter raised past every
    /// same-id copy, readable now that journals are rolled back. A staging
    /// copy that still cannot be read may hold dots a power cut took from
    /// the database, which no raise can know: the replica takes a new id,
    /// so none of them is issued again.
    @discardableResult
    public func takeUpLeftoverJoinCopies(logger: Logger) throws -> [LeftoverJoinAside] {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        let outcomes = Self.keepLeftoverJoinAsides(in: folder, liveReplica: try replicaID, wall: options.wallClock(), logger: logger)
        if let unreadable = try raisePastCopies(in: folder, logUnreadable: true) {
            let replica = try startNewReplica(reason: "a copy of the database a join left (\(unreadable)) cannot be read, so the dots it may hold are unknown")
            logger.warning("a copy of the database a join left cannot be read, so which dots it holds is unknown: new replica id, so none is issued twice; each peer reads this replica's changes once more. Look at the copy with `sqlite3`, and move it away once data.db is known to hold its writes", metadata: [
                "file": "\(unreadable)", "replica": "\(replica)"])
        }
        return outcomes
    }

    /// One pass of `raiseCounterPastKeptCopies`; the name of a staging copy that could not be read, if any.
    @discardableResult
    private func raisePastCopies(in folder: URL, logUnreadable: Bool) throws -> String? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return nil }
        let copies = names.filter { $0.hasPrefix(Self.joinAsideStagingPrefix) && !Self.databaseCompanions.contains(where: $0.hasSuffix) }
            + Snapshots.keptAside(among: names)
        guard !copies.isEmpty else { return nil }
        let live = try replicaID
        let liveFile = FileIdentity.of(path: path)
        var unreadable: String?
        for name in copies.sorted() {
            let copy = folder.appendingPathComponent(name).path
            if liveFile != nil, FileIdentity.of(path: copy) == liveFile { continue }
            let found = Self.probe(copy)
            if case .unreadable(let reason) = found, name.hasPrefix(Self.joinAsideStagingPrefix) {
                unreadable = name
                if logUnreadable {
                    options.logger.warning("a copy of the database beside it cannot be read; no dot it may hold is known to be past", metadata: [
                        "file": "\(name)", "reason": "\(reason)"])
                }
            }
            guard case .store(let replica, let counter, _) = found, replica == live else { continue }
            do { try raiseCounter(atLeast: counter) } catch {
                throw StoreError.cannotOpen(path: path, reason: "\(name) beside it holds this replica's dots up to \(counter), which the database lost (a power cut), and its counter could not be raised past them: \(error). Try again once no other process holds a write on the database and the disk has room; until then nothing may write to it")
            }
        }
        return unreadable
    }

    /// Raises this replica's counter to at least `counter` (never lowers
    /// it): the next dot is issued above every dot a copy of this replica
    /// holds. Writes nothing when the counter is there already.
    public func raiseCounter(atLeast counter: UInt64) throws {
        guard counter <= ReceiveLimits.maxCounter else { return }
        let (replica, stored) = try pool.read { db in (try db.replicaID(), UInt64(max(0, Int64.fromDatabaseValue(try db.meta(MetaKey.counter)) ?? 0))) }
        guard counter > stored else { return }
        // The mark first: every later open (syncctl's too) then takes a new
        // replica id if the raise below is lost (`CounterMark.isBehind`).
        // Its failure costs that detection only: the raise still runs.
        var markFailure: (any Error)?
        do { try CounterMark.write(replica, counter, for: path) } catch { markFailure = error }
        try pool.write { db in
            let stored = UInt64(max(0, Int64.fromDatabaseValue(try db.meta(MetaKey.counter)) ?? 0))
            if counter > stored { try db.setMeta(MetaKey.counter, Int64(counter)) }
        }
        if let markFailure {
            options.logger.warning("the counter is raised, but the counter mark beside the database was not, so a later overwrite of data.db by an older copy may go unnoticed; check the data directory's permissions and free space", metadata: [
                "error": "\(markFailure)"])
        }
    }

    /// Opens the file at `path` as SQLite opens any file (rolling back a hot
    /// journal, folding a WAL) and leaves it one self-contained file; then
    /// what it holds then (unreadable when it cannot be opened: locked, damaged).
    private static func foldedIntoOneFile(_ path: String) -> LeftoverContent {
        do {
            let queue = try DatabaseQueue(path: path)
            defer { try? queue.close() }
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
        } catch {
            return .unreadable("\(error)")
        }
        return probe(path)
    }
}

/// Whether a rollback journal beside a leftover join copy is stale
/// (replication-model §4.6): pure rules over what the copy and the
/// journal's header say.
public enum LeftoverJournal {
    /// The first 8 bytes of a rollback journal's header, as SQLite writes them once the journal is synced.
    public static let magic: [UInt8] = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]

    /// The journal's "pages before the transaction" (bytes 16–19 of
    /// SQLite's journal header), when it is a journal with a header
    /// (at most 28 bytes read); nil otherwise.
    static func pagesBefore(journalAt path: String) -> UInt32? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let bytes = try? handle.read(upToCount: 28) else { return nil }
        return pagesBefore(header: [UInt8](bytes))
    }

    static func pagesBefore(header bytes: [UInt8]) -> UInt32? {
        guard bytes.count >= 20, Array(bytes[0..<8]) == magic else { return nil }
        return bytes[16..<20].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// A journal that says the file was empty (0 pages) is the backup's,
    /// which wrote the copy into a new file: stale when the backup is known
    /// to have committed, that is when the copy is marked whole (the mark is
    /// written after it) — or, for a copy made before copies were marked,
    /// when the database has another replica id now (the join committed;
    /// a restore or a copy found since can also have changed it, and a copy
    /// cut short is then kept aside torn: its merge fails and is logged,
    /// nothing is lost). A journal of a file that had pages is the marking
    /// transaction's, cut short: rolled back, it gives the whole copy,
    /// unmarked. No header: SQLite decides.
    static func isStale(copyMarkedWhole: Bool, pagesBefore: UInt32?, copyHasLiveReplica: Bool) -> Bool {
        guard pagesBefore == 0 else { return false }
        return copyMarkedWhole || !copyHasLiveReplica
    }
}
