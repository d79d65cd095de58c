import Foundation
import Logging
import Synchronization

/// The daemon's folds of the databases kept aside by a restore or a join
/// (replication-model §7). A session asks for one when it has synced. One
/// fold runs at a time; one asked for while another runs is run once that
/// ends (a file kept aside meanwhile is not left for the next session). A
/// fold that a passing failure stopped (a full disk) is tried again on
/// `KeptAsideRetry`'s schedule by `retryWhenDue`, while the daemon runs.
final class KeptAsideFolds: Sendable {
    private struct State {
        var running = false
        var again = false
        var retry = KeptAsideRetry()
        var due: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let store: Store
    private let logger: Logger

    init(store: Store, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Folds now, or once the fold under way ends.
    func fold() async {
        let starts = state.withLock { state in
            if state.running {
                state.again = true
                return false
            }
            state.running = true
            return true
        }
        guard starts else { return }
        let store = self.store, logger = self.logger
        while true {
            let outcome = (try? await Blocking.run { Snapshots.mergeAndRemoveKeptAside(into: store, logger: logger) }) ?? KeptAsideFold()
            let (delay, again) = state.withLock { state in
                let delay = state.retry.after(outcome)
                state.due = delay.map { .now + .milliseconds($0) }
                let again = state.again
                state.again = false
                if !again { state.running = false }
                return (delay, again)
            }
            if let delay {
                logger.notice("a database kept aside is still to be merged: a failure that passes (a full disk, a lock held) stopped its merge; trying again soon",
                              metadata: ["retry_in_s": "\(delay / 1_000)", "files": "\(outcome.stoppedByPassingFailure)"])
            }
            if !again { return }
        }
    }

    /// Runs the retries `fold` scheduled, when due; until cancelled.
    func retryWhenDue() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
            let due = state.withLock { state in
                guard let due = state.due, due <= .now else { return false }
                state.due = nil
                return true
            }
            if due { await fold() }
        }
    }
}
