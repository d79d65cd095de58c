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
        /// Checkpoints in a row that found another one running.
        var busyInARow = 0
        var busyTotal = 0
    }
    /// Checkpoints in a row that find another connection's checkpoint
    /// running (SQLite runs one at a time and the other returns at once)
    /// before that is logged as a warning: a daemon that starts beside
    /// `syncctl` or a closing connection meets one now and then, which is
    /// no fault; a checkpoint lock held on and on is.
    static let busyWarningAfter = 16
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

    /// What one checkpoint came to.
    private enum Outcome {
        case done
        /// SQLITE_BUSY: another connection was checkpointing (or, on the
        /// first read, recovering the WAL); nothing is wrong. (SQLITE_LOCKED,
        /// this connection's own state, is a failure.)
        case busy(String)
        case failed(String)

        init(_ code: Int32, _ connection: OpaquePointer?, step: String) {
            let reason = "\(step): \(connection.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open it")"
            switch code & 0xff {
            case SQLITE_OK: self = .done
            case SQLITE_BUSY: self = .busy(reason)
            default: self = .failed(reason)
            }
        }
    }

    /// A passive checkpoint on the job's connection, opened at the first run
    /// without creating the file (a store removed meanwhile must not come
    /// back empty). A failure is logged once, then counted; finding another
    /// connection's checkpoint running is not a failure, and is logged only
    /// after `busyWarningAfter` in a row. The next commit past the threshold
    /// tries again.
    private func checkpoint() {
        var log: Int32 = -1, copied: Int32 = -1
        let outcome: Outcome = connection.withLock { open in
            if open == nil {
                var fresh: OpaquePointer?
                let opened = Outcome(sqlite3_open_v2(path, &fresh, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil), fresh, step: "opening")
                guard case .done = opened, let fresh else {
                    sqlite3_close_v2(fresh)
                    return opened
                }
                sqlite3_busy_timeout(fresh, 0)
                // A first read makes the connection see the file's WAL mode (until then it checkpoints nothing).
                let read = Outcome(sqlite3_exec(fresh, "SELECT count(*) FROM sqlite_master", nil, nil, nil), fresh, step: "first read")
                guard case .done = read else {
                    sqlite3_close_v2(fresh)
                    return read
                }
                open = fresh
            }
            guard let open else { return .failed("no connection") }
            return Outcome(sqlite3_wal_checkpoint_v2(open, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied), open, step: "checkpoint")
        }
        let warning = state.withLock { state -> String? in
            switch outcome {
            case .done:
                state.busyInARow = 0
                // Copied less than the WAL held: again once it has grown by `pages`.
                state.retryAt = copied < log ? log &+ pages : 0
                return nil
            case .busy(let reason):
                state.busyTotal += 1
                state.busyInARow += 1
                return state.busyInARow == Self.busyWarningAfter
                    ? "\(reason) (\(Self.busyWarningAfter) times in a row: another connection keeps SQLite's checkpoint lock)" : nil
            case .failed(let reason):
                state.busyInARow = 0
                state.failures += 1
                return state.failures == 1 ? reason : nil
            }
        }
        if let warning {
            logger.warning("could not copy the WAL into the database file; it is tried again after the next commits, and the WAL grows meanwhile",
                           metadata: ["path": "\(path)", "error": "\(warning)"])
        } else if case .busy(let reason) = outcome {
            logger.debug("another connection was copying the WAL; tried again after the next commits", metadata: ["path": "\(path)", "error": "\(reason)"])
        }
    }

    /// Checkpoints that failed since the store opened (finding another
    /// connection's checkpoint running is not counted: `busy`).
    var failures: Int { state.withLock { $0.failures } }

    /// Checkpoints that found another connection's checkpoint running.
    var busy: Int { state.withLock { $0.busyTotal } }

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
