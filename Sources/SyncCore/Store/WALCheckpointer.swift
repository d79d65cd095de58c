import Dispatch
import Foundation
import GRDBSQLite
import Synchronization

/// Copies the WAL into the database file on a thread of its own, instead of
/// in the commit that crossed SQLite's threshold (docs/architecture.md,
/// "Checkpoints"). SQLite's automatic checkpoint runs inside the writer's
/// commit, so one apply in so many paid for copying every page the last
/// ones wrote and syncing the file, holding up the caller (a peer's batch,
/// an analyst's edit). This one is scheduled by the writer's WAL hook (which
/// replaces the automatic checkpoint) once the WAL holds `pages` pages and
/// runs a passive checkpoint on a connection of its own: it never blocks
/// the writer or a reader, and what it cannot copy (a reader still on older
/// pages) is copied by the next one. Durability does not change: a commit is
/// as durable in the WAL as in the file.
final class WALCheckpointer: Sendable {
    let path: String
    let pages: Int32
    private struct State {
        var scheduled = false
        var paused = 0
        var closed = false
        /// A commit crossed the threshold while paused: checkpoint on resuming.
        var missed = false
    }
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "syncd.store.checkpoint", qos: .utility)
    private let idle = DispatchGroup()

    init(path: String, pages: Int32) {
        self.path = path
        self.pages = pages
    }

    /// Makes `connection` (the store's writer) schedule checkpoints here
    /// instead of running SQLite's automatic one in its commits. The hook
    /// holds a weak reference: a connection that outlives the store
    /// schedules nothing.
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
        guard walPages >= pages else { return }
        schedule()
    }

    /// No checkpoint starts until `resume` (one already running ends): a
    /// join copies the whole file into the WAL and checkpoints it itself
    /// once sessions are back (`Store.checkpointAfterJoin`).
    /// Returns once a checkpoint already running has ended.
    func pause() {
        state.withLock { $0.paused += 1 }
        idle.wait()
    }

    var isPaused: Bool { state.withLock { $0.paused > 0 } }

    func resume() {
        let run = state.withLock { state -> Bool in
            state.paused = max(0, state.paused - 1)
            defer { if state.paused == 0 { state.missed = false } }
            return state.paused == 0 && state.missed
        }
        if run { schedule() }
    }

    /// Waits for a checkpoint scheduled or running to end.
    func waitUntilIdle() { idle.wait() }

    /// No checkpoint starts after this; waits for the one running.
    func close() {
        state.withLock { $0.closed = true }
        idle.wait()
    }

    private func schedule() {
        let start = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            guard state.paused == 0 else { state.missed = true; return false }
            guard !state.scheduled else { return false }
            state.scheduled = true
            return true
        }
        guard start else { return }
        idle.enter()
        queue.async { [self] in
            // Taken down first: a commit during the checkpoint schedules the next one.
            state.withLock { $0.scheduled = false }
            if !state.withLock({ $0.closed || $0.paused > 0 }) { checkpoint() }
            idle.leave()
        }
    }

    /// A passive checkpoint on a connection opened for it. The file must be
    /// there already: the connection never creates one (a store removed
    /// meanwhile must not come back empty). Failures are left to the next one.
    private func checkpoint() {
        var connection: OpaquePointer?
        defer { sqlite3_close_v2(connection) }
        guard sqlite3_open_v2(path, &connection, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let connection else { return }
        sqlite3_busy_timeout(connection, 0)
        var log: Int32 = 0, copied: Int32 = 0
        // A first read makes the connection see the file's WAL mode (until then it checkpoints nothing).
        guard sqlite3_exec(connection, "SELECT count(*) FROM sqlite_master", nil, nil, nil) == SQLITE_OK else { return }
        _ = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &copied)
    }

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
