import Foundation
import Logging

/// Knows this replica's highest seq and wakes sessions waiting for news.
///
/// Merges from peers report their new seq directly; writes by other processes
/// (`syncctl`) are found by polling `max(seq)` every `pollInterval`, which is
/// what ships them to peers within a second.
public final class ChangeNotifier: @unchecked Sendable {
    private let lock = NSLock()
    private var highest: UInt64
    private let store: Store

    public init(store: Store) throws {
        self.store = store
        highest = try store.highestSeq()
    }

    public var highestSeq: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return highest
    }

    /// Reports that the store reached `seq`.
    public func advance(to seq: UInt64) {
        lock.lock()
        if seq > highest { highest = seq }
        lock.unlock()
    }

    /// Returns once the highest seq exceeds `seq` (checks every 20 ms; cancellable).
    public func wait(beyond seq: UInt64) async throws {
        while highestSeq <= seq {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// Polls the database for commits made by other processes, until cancelled.
    public func pollForeignWrites(every interval: Duration, logger: Logger) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
                let store = self.store
                let seq = try await Blocking.run { try store.highestSeq() }
                if seq > highestSeq {
                    logger.debug("found local writes made outside the daemon", metadata: ["seq": "\(seq)"])
                    advance(to: seq)
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("cannot poll the database for local writes", metadata: ["error": "\(error)"])
            }
        }
    }
}
