import Dispatch
import Foundation
import GRDBSQLite
import Logging
import Synchronization

/// Copies the WAL into the database file on a thread of its own, instead of
/// in the commit that crossed SQLite's threshold (docs/architecture.md,
/// "Checkpoints"). SQLite's automatic checkpoint runs inside the writer's
/// commit, so one apply in so many paid for copying every page the last
/// ones wrote and syncing the file, holding up the caller (a peer's batch,
/// an analyst's edit). This one is scheduled by the writer's WAL hook (which
/// replaces the automatic checkpoint) once the WAL holds `pages` pages, and
/// runs a passive checkpoint on a connection of its own: it never waits for
/// the writer or a reader. What it cannot copy (a reader still on older
/// pages) waits until the WAL has grown by `pages` more, so a long reader
/// does not make every commit schedule a checkpoint that copies nothing.
final class WALCheckpointer: Sendable {
    let path: String
    let pages: Int32
    private let logger: Logger
    private struct State {
        var scheduled = false
        var paused = false
        var closed = false
        /// A commit crossed the threshold while paused: checkpoint on resuming.
        var missed = false
        /// The WAL's pages at the last commit (fewer: it started over).
        var lastSeen: Int32 = 0
        /// Not before the WAL holds this many pages: the last checkpoint
        /// could not copy all of it (a reader holds older pages).
        var retryAt: Int32 = 0
        var failures = 0
    }
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "syncd.store.checkpoint", qos: .utility)
    private let idle = DispatchGroup()
    /// The job's own connection, opened at its first run; used on `queue` only.
    private let connection = Mutex<OpaquePointer?>(nil)
    /// Tests only: runs on the checkpoint's thread before each checkpoint.
    let beforeCheckpoint: (@Sendable () -> Void)?

    init(path: String, pages: Int32, logger: Logger, beforeCheckpoint: (@Sendable () -> Void)? = nil) {
        self.path = path
        self.pages = pages
        self.logger = logger
        self.beforeCheckpoint = beforeCheckpoint
    }

    /// Makes `connection` (the store's writer) schedule checkpoints here
    /// instead of running SQLite's automatic one in its commits. The
    /// context is a small box, kept for the connection's life (never
    /// freed); what stops work once the store is gone is `close`.
    func install(on connection: OpaquePointer) {
        let box = Unmanaged.passRetained(WeakBox(self)).toOpaque()
        sqlite3_wal_hook(connection, { context, _, _, pages in
            if let context, let checkpointer = Unmanaged<WeakBox>.fromOpaque(context).takeUnretainedValue().checkpointer {
                checkpointer.committed(walPages: pages)
            }
            return SQLITE_OK
        }, box)
    }

    /// Called after each commit of the writer, the write lock released.
    func committed(walPages: Int32) {
        let due = state.withLock { state -> Bool in
            if walPages < state.lastSeen { state.retryAt = 0 }  // started over: someone copied it all
            state.lastSeen = walPages
            return walPages >= max(pages, state.retryAt)
        }
        if due { schedule() }
    }

    /// No checkpoint starts until `resume` (one already running goes on: a
    /// passive checkpoint beside the writer is harmless). A join copies the
    /// whole file into the WAL and checkpoints it itself once sessions are
    /// back (`Store.checkpointAfterJoin`). Not counted: one resume ends any
    /// number of pauses (one join at a time holds the writer).
    func pause() { state.withLock { $0.paused = true } }

    func resume() {
        let run = state.withLock { state -> Bool in
            defer { state.paused = false; state.missed = false }
            return state.paused && state.missed
        }
        if run { schedule() }
    }

    var isPaused: Bool { state.withLock { $0.paused } }

    /// Waits for a checkpoint scheduled or running to end.
    func waitUntilIdle() { idle.wait() }

    /// No checkpoint is scheduled after this; one already scheduled runs,
    /// then the connection closes.
    func close() {
        state.withLock { $0.closed = true }
        idle.wait()
        queue.sync { connection.withLock { open in sqlite3_close_v2(open); open = nil } }
    }

    private func schedule() {
        let start = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            guard !state.paused else { state.missed = true; return false }
            guard !state.scheduled else { return false }
            state.scheduled = true
            return true
        }
        guard start else { return }
        idle.enter()
        queue.async { [self] in
            // Taken down first: a commit during the checkpoint schedules the next one.
            state.withLock { $0.scheduled = false }
            if !isPaused {
                beforeCheckpoint?()
                checkpoint()
            }
            idle.leave()
        }
    }

    /// A passive checkpoint on the job's connection, opened at the first run
    /// without creating the file (a store removed meanwhile must not come
    /// back empty). A failure is logged once, then counted; the next commit
    /// past the threshold tries again.
    private func checkpoint() {
        var log: Int32 = -1, copied: Int32 = -1
        let failure: String? = connection.withLock { open in
            if open == nil {
                var fresh: OpaquePointer?
                guard sqlite3_open_v2(path, &fresh, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let fresh else {
                    let reason = fresh.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open it"
                    sqlite3_close_v2(fresh)
                    return reason
                }
                sqlite3_busy_timeout(fresh, 0)
                // A first read makes the connection see the file's WAL mode (until then it checkpoints nothing).
                guard sqlite3_exec(fresh, "SELECT count(*) FROM sqlite_master", nil, nil, nil) == SQLITE_OK else {
                    let reason = String(cString: sqlite3_errmsg(fresh))
                    sqlite3_close_v2(fresh)
                    return reason
                }
                open = fresh
            }
            guard let open, sqlite3_wal_checkpoint_v2(open, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) == SQLITE_OK else {
                return open.map { String(cString: sqlite3_errmsg($0)) } ?? "no connection"
            }
            return nil
        }
        let first = state.withLock { state -> Bool in
            if failure != nil {
                state.failures += 1
                return state.failures == 1
            }
            // Copied less than the WAL held: again once it has grown by `pages`.
            state.retryAt = copied < log ? log &+ pages : 0
            return false
        }
        if let failure, first {
            logger.warning("could not copy the WAL into the database file; it is tried again after the next commits, and the WAL grows meanwhile",
                           metadata: ["path": "\(path)", "error": "\(failure)"])
        }
    }

    /// Checkpoints that failed since the store opened.
    var failures: Int { state.withLock { $0.failures } }

    private final class WeakBox: @unchecked Sendable {
        // Written once, at init; read by the hook on the writer's thread.
        weak var checkpointer: WALCheckpointer?
        init(_ checkpointer: WALCheckpointer) { self.checkpointer = checkpointer }
    }
}

extension Store {
    /// Waits for a checkpoint a commit scheduled to end (benchmarks, so the
    /// next measurement does not share the disk with it; tests).
    public func waitForCheckpoints() { checkpointer.waitUntilIdle() }
}
