import Foundation
import Logging
import Synchronization

/// The daemon's folds of the databases kept aside by a restore or a join
/// (replication-model §7). A session that has synced clears the files
/// kept aside at that moment (`clearedBySync`); only cleared files are merged,
/// so a file a join keeps aside later waits for a sync of its own. One fold
/// runs at a time; files cleared while another runs are folded once that
/// ends. The files a passing failure stopped (a full disk) are tried again
/// on `KeptAsideRetry`'s schedule by `retryWhenDue`, while the daemon runs.
final class KeptAsideFolds: Sendable {
    private struct State {
        var running = false
        /// Cleared and not folded yet.
        var waiting: Set<String> = []
        var retry = KeptAsideRetry()
        /// When to try `retry.names` again.
        var due: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let store: Store
    private let logger: Logger

    init(store: Store, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    private var directory: URL { URL(fileURLWithPath: store.path).deletingLastPathComponent() }

    /// A session has synced: the files kept aside now are cleared for a
    /// fold (`fold`). Called when the sync ends, before anything is awaited.
    func clearedBySync() -> Set<String> { Set(Snapshots.keptAside(in: directory)) }

    /// Folds `names` now, or once the fold under way ends. The folds run on
    /// a task of their own, not the caller's: a session that asked is not
    /// held open by later ones. Returns that task when this call started it.
    @discardableResult
    func fold(_ names: Set<String>) -> Task<Void, Never>? {
        guard !names.isEmpty else { return nil }
        let starts = state.withLock { state in
            state.waiting.formUnion(names)
            if state.running { return false }
            state.running = true
            return true
        }
        guard starts else { return nil }
        return Task { await self.foldWhileWaiting() }
    }

    private func foldWhileWaiting() async {
        let store = self.store, logger = self.logger
        while true {
            let batch = state.withLock { state in
                defer { state.waiting = [] }
                return state.waiting
            }
            let outcome = (try? await Blocking.run { Snapshots.mergeAndRemoveKeptAside(into: store, logger: logger, only: batch) }) ?? KeptAsideFold()
            let (delay, retried, more) = state.withLock { state in
                let delay = state.retry.after(outcome, of: batch)
                let retried = state.retry.names
                state.due = delay.map { .now + .milliseconds($0) }
                let more = !state.waiting.isEmpty
                if !more { state.running = false }
                return (delay, retried, more)
            }
            if let delay {
                logger.notice("a database kept aside is still to be merged: a full disk (or a lock held, memory short) stopped its merge; trying again by itself",
                              metadata: ["retry_in_s": "\(delay / 1_000)", "files": "\(retried.sorted().joined(separator: ", "))"])
            }
            if !more { return }
        }
    }

    /// Runs the retries `fold` scheduled, when due; until cancelled.
    func retryWhenDue() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
            let names = state.withLock { state -> Set<String> in
                guard let due = state.due, due <= .now else { return [] }
                state.due = nil
                return state.retry.names
            }
            await fold(names)?.value
        }
    }
}
