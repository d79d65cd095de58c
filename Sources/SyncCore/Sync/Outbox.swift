import Synchronization
import Foundation

/// The messages a session has queued for its peer, bounded.
///
/// The writer task drains it into the channel, whose writer waits while
/// the socket's buffer is full; a peer that stops reading therefore makes
/// this queue grow. Past `limit` messages the session ends with
/// `SessionError.notReading` instead of buffering more (operations
/// "Limits"). Bulk senders (`waitForRoom`) pause well before the limit, so
/// only a peer that really stopped reading hits it.
final class Outbox: Sendable {
    let stream: AsyncStream<SyncMessage>
    private let continuation: AsyncStream<SyncMessage>.Continuation
    private let queued = Mutex(0)
    let limit: Int

    init(limit: Int) {
        self.limit = limit
        (stream, continuation) = AsyncStream.makeStream()
    }

    /// Queues `message`; throws when `limit` messages are already waiting.
    func send(_ message: SyncMessage) throws {
        let overfull = queued.withLock { queued -> Bool in
            guard queued < limit else { return true }
            queued += 1
            return false
        }
        if overfull { throw SessionError.notReading(queued: limit) }
        continuation.yield(message)
    }

    /// Called by the writer after each message has been handed to the channel.
    func didWrite() { queued.withLock { $0 -= 1 } }

    var count: Int { queued.withLock { $0 } }

    /// Waits until fewer than `threshold` messages wait (bulk senders: repair).
    func waitForRoom(below threshold: Int) async throws {
        while count >= threshold { try await Task.sleep(for: .milliseconds(5)) }
    }

    func finish() { continuation.finish() }
}
