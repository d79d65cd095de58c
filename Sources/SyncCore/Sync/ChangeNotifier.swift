import Foundation
import Logging

/// Knows this replica's highest seq and wakes sessions waiting for news.
///
/// Merges from peers report their new seq directly; writes by other processes
/// (`syncctl`) are announced by a `changed` nudge on the control socket, and
/// found by polling `max(seq)` every `local_poll_ms` when nobody nudges
/// (SQL clients writing the collection tables never do; other writers may forget).
public final class ChangeNotifier: @unchecked Sendable {
    private let lock = NSLock()
    private var highest: UInt64
    private let store: Store
    /// Takes up edits made to the collection tables with SQL before each
    /// check, so they ship like any local write (docs/sql.md).
    private let sqlEdits: SQLEditTakeUp?

    private var logger: Logger? { sqlEdits?.logger }

    public init(store: Store, sqlEdits: SQLEditTakeUp? = nil) throws {
        self.store = store
        self.sqlEdits = sqlEdits
        highest = try store.highestSeq()
    }

    public var highestSeq: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return highest
    }

    /// Reports that the store reached `seq`, waking whoever waits for less.
    public func advance(to seq: UInt64) {
        lock.lock()
        if seq > highest { highest = seq }
        let woken = waiters.filter { $0.value.seq < highest }
        for id in woken.keys { waiters[id] = nil }
        lock.unlock()
        for waiter in woken.values { waiter.continuation.resume() }
    }

    /// After the store's feed was replaced (a join by snapshot): the highest
    /// seq is `seq`, which may be lower than before; every waiter wakes.
    public func rebase(to seq: UInt64) {
        lock.lock()
        highest = seq
        let woken = waiters
        waiters = [:]
        lock.unlock()
        for waiter in woken.values { waiter.continuation.resume() }
    }

    private var waiters: [UUID: (seq: UInt64, continuation: CheckedContinuation<Void, Error>)] = [:]

    /// Returns once the highest seq exceeds `seq` (woken by `advance`; cancellable).
    public func wait(beyond seq: UInt64) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                lock.lock()
                if highest > seq || Task.isCancelled {
                    lock.unlock()
                    if Task.isCancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
                    return
                }
                waiters[id] = (seq, continuation)
                lock.unlock()
            }
        } onCancel: {
            lock.lock()
            let waiter = waiters.removeValue(forKey: id)
            lock.unlock()
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Like `wait(beyond:)`, but gives up after `timeout`: true when the
    /// highest seq moved past `seq`, false when the time ran out.
    public func wait(beyond seq: UInt64, timeout: Duration) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { try await self.wait(beyond: seq); return true }
            group.addTask { try await Task.sleep(for: timeout); return false }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
    }

    /// Reads the store's highest seq now (after a nudge from `syncctl`, or
    /// on the poll); returns it when it is news.
    @discardableResult
    public func checkForeignWrites() async throws -> UInt64? {
        let store = self.store
        if let sqlEdits {
            do { _ = try await Blocking.run { try sqlEdits.run() } } catch is CancellationError { throw CancellationError() } catch {
                // Kept in the queue; the next poll tries again.
                logger?.warning("cannot take up SQL edits of the collection tables now; they stay queued", metadata: ["error": "\(error)"])
            }
        }
        let seq = try await Blocking.run { try store.highestSeq() }
        guard seq > highestSeq else { return nil }
        advance(to: seq)
        return seq
    }

    /// Polls the database for commits made by other processes, until cancelled.
    public func pollForeignWrites(every interval: Duration, logger: Logger) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
                if let seq = try await checkForeignWrites() {
                    logger.debug("found local writes made outside the daemon", metadata: ["seq": "\(seq)"])
                }
            } catch is CancellationError {
                return
            } catch {
                logger.warning("cannot poll the database for local writes", metadata: ["error": "\(error)"])
            }
        }
    }
}
