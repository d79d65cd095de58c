import Foundation
import Logging
import NIOCore

/// One authenticated connection to one peer, after the hello exchange.
///
/// Runs, concurrently: the inbound dispatch loop; a writer that owns the
/// outbound half; the puller (if we take the peer's changes), which asks for
/// batches since our stored cursor and merges each with its cursor in one
/// transaction; the server (if we send), which answers pulls and holds a
/// `wait` pull open until something new commits (push); digest checks;
/// keepalive pings; and traffic accounting. Any failure closes the connection.
final class PeerSession: @unchecked Sendable {
    let node: SyncNode
    let channel: Channel
    let peer: PeerConfig
    let peerReplica: ReplicaID
    let sendsToPeer: Bool
    let receivesFromPeer: Bool
    /// The peer decodes tabled batches (its hello says protocol 1.1 or later).
    let peerTakesTabledBatches: Bool
    let connection: ConnectionContext
    let logger: Logger

    private let outbox: AsyncStream<SyncMessage>.Continuation
    private let outboxStream: AsyncStream<SyncMessage>
    private let pulls: AsyncStream<(cursor: UInt64, maxCount: UInt32, maxBytes: UInt32, wait: Bool)>.Continuation
    private let pullStream: AsyncStream<(cursor: UInt64, maxCount: UInt32, maxBytes: UInt32, wait: Bool)>
    private let batches: AsyncStream<SyncMessage.Batch>.Continuation
    private let batchStream: AsyncStream<SyncMessage.Batch>
    private let digests: AsyncStream<SyncMessage.DigestReport>.Continuation
    private let digestStream: AsyncStream<SyncMessage.DigestReport>
    private let repairs: AsyncStream<[UInt8]>.Continuation
    private let repairStream: AsyncStream<[UInt8]>

    init(node: SyncNode, channel: Channel, peer: PeerConfig, hello: SyncMessage.Hello, connection: ConnectionContext, logger: Logger) {
        self.node = node
        self.channel = channel
        self.peer = peer
        peerReplica = hello.replica
        sendsToPeer = peer.mode.sends && hello.willReceive
        receivesFromPeer = peer.mode.receives && hello.willSend
        peerTakesTabledBatches = hello.protocolMinor >= 1
        self.connection = connection
        self.logger = logger
        (outboxStream, outbox) = AsyncStream.makeStream()
        (pullStream, pulls) = AsyncStream.makeStream()
        (batchStream, batches) = AsyncStream.makeStream()
        (digestStream, digests) = AsyncStream.makeStream()
        (repairStream, repairs) = AsyncStream.makeStream()
    }

    var store: Store { node.store }
    var config: DaemonConfig { node.configBox.config }

    func send(_ message: SyncMessage) { outbox.yield(message) }

    /// Runs until the connection ends; throws the reason it ended.
    func run(inbound: inout NIOAsyncChannelInboundStream<SyncMessage>.AsyncIterator,
             outbound: NIOAsyncChannelOutboundWriter<SyncMessage>) async throws {
        let failure = FailureBox()
        await withTaskGroup(of: Void.self) { group in
            let channel = self.channel
            func supervise(_ name: String, _ work: @escaping @Sendable () async throws -> Void) {
                group.addTask {
                    do { try await work() } catch is CancellationError {} catch {
                        failure.set(error)
                        channel.close(promise: nil)
                    }
                }
            }
            supervise("writer") {
                for await message in self.outboxStream { try await outbound.write(message) }
            }
            supervise("keepalive") { try await self.keepalive() }
            supervise("traffic") { try await self.accountTraffic() }
            if sendsToPeer {
                supervise("server") { try await self.servePulls() }
                supervise("repair") { try await self.serveRepairs() }
            }
            if receivesFromPeer { supervise("puller") { try await self.pullLoop() } }
            if sendsToPeer && receivesFromPeer { supervise("digest") { try await self.digestLoop() } }

            do {
                while let message = try await inbound.next() { try await dispatch(message) }
            } catch {
                failure.set(error)
            }
            for continuation in [outbox] { continuation.finish() }
            pulls.finish(); batches.finish(); digests.finish(); repairs.finish()
            group.cancelAll()
        }
        if let error = failure.error { throw error }
    }

    private func dispatch(_ message: SyncMessage) async throws {
        switch message {
        case .ping:
            send(.pong)
        case .pong:
            break
        case .pull(let cursor, let maxCount, let maxBytes, let wait):
            guard sendsToPeer else { throw SessionError.protocolViolation("pulled, but this daemon does not send to \(peer.name) (mode \(peer.mode.rawValue))") }
            pulls.yield((cursor, maxCount, maxBytes, wait))
        case .batch(let batch):
            guard receivesFromPeer else { throw SessionError.protocolViolation("sent a batch, but this daemon does not take changes from \(peer.name) (mode \(peer.mode.rawValue))") }
            batches.yield(batch)
        case .digestRequest(let theirHighest):
            let store = self.store
            let replica = peerReplica
            let report = try await Blocking.run { () -> SyncMessage.DigestReport in
                let digest = try store.digest()
                return SyncMessage.DigestReport(buckets: digest.buckets, highestSeq: try store.highestSeq(),
                                                caughtUp: try store.cursor(for: replica) >= theirHighest)
            }
            send(.digest(report))
        case .digest(let report):
            digests.yield(report)
        case .repairRequest(let buckets):
            guard sendsToPeer else { throw SessionError.protocolViolation("asked for a repair, but this daemon does not send to \(peer.name)") }
            repairs.yield(buckets)
        case .repairBatch(let changes, let last):
            guard receivesFromPeer else { throw SessionError.protocolViolation("sent a repair batch, but this daemon does not take changes from \(peer.name)") }
            let report = try await merge(changes, cursor: nil)
            if last { logger.info("digest repair received", metadata: ["peer": "\(peer.name)", "changed": "\(report.changed)"]) }
        case .hello:
            throw SessionError.protocolViolation("a second hello")
        case .goodbye(let reason):
            throw SessionError.closedByPeer(reason)
        }
    }

    /// Merges received slots (with the cursor, if any) and wakes our own servers
    /// so the changes travel on to other peers.
    private func merge(_ changes: [SlotChange], cursor: UInt64?) async throws -> ApplyReport {
        let store = self.store
        let replica = peerReplica
        let started = ContinuousClock.now
        let (report, highest) = try await Blocking.run {
            let report = try store.apply(changes, from: replica, cursor: cursor)
            return (report, try store.highestSeq())
        }
        node.notifier.advance(to: highest)
        node.metrics.applied(report, duration: ContinuousClock.now - started)
        if report.futureVersions > 0 {
            logger.warning("peer sent versions dated in the future; stored, not used to move the clock",
                           metadata: ["peer": "\(peer.name)", "count": "\(report.futureVersions)"])
        }
        if report.schemaProblems > 0 {
            logger.warning("peer sent slots that fail the local schema; stored and listed by `syncctl check`",
                           metadata: ["peer": "\(peer.name)", "count": "\(report.schemaProblems)"])
        }
        await node.registry.update(peer.deviceID) { status in
            status.slotsReceived += UInt64(changes.count)
            status.futureVersions += UInt64(report.futureVersions)
            status.schemaProblems += UInt64(report.schemaProblems)
        }
        return report
    }

    private func pullLoop() async throws {
        var wait = false
        var catchUp = (started: ContinuousClock.now, received: 0, changed: 0)
        var iterator = batchStream.makeAsyncIterator()
        let store = self.store
        let replica = peerReplica
        // At most one pull is outstanding beyond the batch being merged: while
        // a catch-up batch is merged, the peer reads and sends the next one.
        // Memory stays bounded by two batches; a slow disk slows the peer.
        var requested: UInt64?
        while !Task.isCancelled {
            let config = self.config
            func pull(from cursor: UInt64, wait: Bool) {
                send(.pull(cursor: cursor, maxCount: UInt32(config.batchMaxSlots), maxBytes: UInt32(config.batchMaxBytes), wait: wait))
                requested = cursor
            }
            if requested == nil { pull(from: try await Blocking.run { try store.cursor(for: replica) }, wait: wait) }
            guard let batch = await iterator.next(), let cursor = requested else { return }
            requested = nil
            if batch.hasMore { pull(from: batch.cursor, wait: false) }
            if !batch.changes.isEmpty || batch.cursor != cursor {
                let report = try await merge(batch.changes, cursor: batch.cursor)
                catchUp.received += batch.changes.count
                catchUp.changed += report.changed
                if report.changed > 0 {
                    logger.debug("merged batch", metadata: ["peer": "\(peer.name)", "slots": "\(batch.changes.count)",
                                                            "changed": "\(report.changed)", "cursor": "\(batch.cursor)"])
                }
            }
            if !wait && !batch.hasMore {
                let elapsed = ContinuousClock.now - catchUp.started
                logger.info("caught up", metadata: ["peer": "\(peer.name)", "received": "\(catchUp.received)", "changed": "\(catchUp.changed)",
                                                    "cursor": "\(batch.cursor)", "seconds": "\(String(format: "%.2f", elapsed.seconds))"])
                node.metrics.syncDuration(peer: peer.name, elapsed)
                Snapshots.removeKeptAside(nextTo: store.path, logger: logger)
            }
            wait = !batch.hasMore
            let now = Date()
            await node.registry.update(peer.deviceID) { status in
                status.cursor = batch.cursor
                status.remoteHighestSeq = max(batch.highestSeq, batch.cursor)
                status.caughtUp = !batch.hasMore
                status.lastSync = now
            }
            node.metrics.lag(peer: peer.name, batch.highestSeq > batch.cursor ? batch.highestSeq - batch.cursor : 0)
        }
    }

    /// How long a held pull may sit on a cursor advanced only over echoes.
    static let echoCursorDelay: Duration = .seconds(1)

    private func servePulls() async throws {
        let store = self.store
        let replica = peerReplica
        for await request in pullStream {
            let config = self.config
            let maxCount = Int(min(request.maxCount, UInt32(config.batchMaxSlots)))
            let maxBytes = Int(min(request.maxBytes, UInt32(min(config.batchMaxBytes, config.maxFrameBytes / 2))))
            var cursor = request.cursor
            var echoDeadline: ContinuousClock.Instant?
            while true {
                let since = cursor
                let batch = try await Blocking.run { try store.changes(since: since, maxCount: max(1, maxCount), maxBytes: max(1_024, maxBytes), for: replica) }
                if batch.changes.isEmpty && request.wait {
                    // Nothing to send, or only echoes of what this peer sent us:
                    // keep holding the pull rather than answer with an empty batch
                    // (a frame each way per write). An advance over echoes is
                    // told within `echoCursorDelay` if no real change carries it
                    // sooner, so the peer's cursor — which gates digest checks —
                    // still catches up.
                    cursor = batch.cursor
                    if batch.hasMore { continue }
                    if cursor == request.cursor {
                        try await node.notifier.wait(beyond: cursor)
                        continue
                    }
                    let deadline = echoDeadline ?? ContinuousClock.now + Self.echoCursorDelay
                    echoDeadline = deadline
                    let remaining = deadline - ContinuousClock.now
                    if remaining > .zero, try await node.notifier.wait(beyond: cursor, timeout: remaining) { continue }
                }
                cursor = batch.cursor
                send(.batch(.init(changes: batch.changes, cursor: batch.cursor, hasMore: batch.hasMore, highestSeq: node.notifier.highestSeq,
                                    tabled: peerTakesTabledBatches)))
                if !batch.changes.isEmpty {
                    await node.registry.update(peer.deviceID) { $0.slotsSent += UInt64(batch.changes.count) }
                }
                break
            }
        }
    }

    private func serveRepairs() async throws {
        let store = self.store
        for await buckets in repairStream {
            let changes = try await Blocking.run { try store.slots(inBuckets: buckets) }
            let size = max(1, config.batchMaxSlots)
            var start = 0
            repeat {
                let end = min(start + size, changes.count)
                send(.repairBatch(changes: Array(changes[start..<end]), last: end == changes.count))
                start = end
            } while start < changes.count
            logger.info("sent digest repair", metadata: ["peer": "\(peer.name)", "buckets": "\(buckets.count)", "slots": "\(changes.count)"])
        }
    }

    /// Once caught up, compares digests every `digest_interval_seconds` (or at
    /// once after `syncctl sync`); differing buckets are asked for again.
    private func digestLoop() async throws {
        var iterator = digestStream.makeAsyncIterator()
        var lastCheck = ContinuousClock.now
        var seenRequests = await node.registry.syncRequestCount
        let store = self.store
        let replica = peerReplica
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(100))
            let requests = await node.registry.syncRequestCount
            let due = ContinuousClock.now - lastCheck >= .milliseconds(Int(config.digestIntervalSeconds * 1_000))
            guard due || requests != seenRequests else { continue }
            guard await node.registry.status(of: peer.deviceID)?.caughtUp == true else { continue }
            seenRequests = requests
            lastCheck = ContinuousClock.now
            send(.digestRequest(highestSeq: node.notifier.highestSeq))
            guard let report = await iterator.next() else { return }
            let (local, cursor) = try await Blocking.run { (try store.digest(), try store.cursor(for: replica)) }
            guard report.caughtUp, cursor >= report.highestSeq, report.buckets.count == StateDigest.bucketCount else { continue }
            let differing = local.differingBuckets(from: StateDigest(buckets: report.buckets))
            guard !differing.isEmpty else {
                logger.debug("digest matches", metadata: ["peer": "\(peer.name)"])
                continue
            }
            node.metrics.digestMismatch(peer: peer.name)
            await node.registry.update(peer.deviceID) { $0.digestMismatches += 1 }
            logger.warning("digest mismatch after catching up: asking for the differing buckets again",
                           metadata: ["peer": "\(peer.name)", "buckets": "\(differing.count)"])
            send(.repairRequest(buckets: differing.prefix(32).map { UInt8($0) }))
        }
    }

    private func keepalive() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(Int(config.keepaliveSeconds * 1_000)))
            send(.ping)
        }
    }

    private func accountTraffic() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(500))
            let counts = connection.takeCounts()
            node.metrics.traffic(peer: peer.name, bytesIn: counts.in, bytesOut: counts.out)
            await node.registry.update(peer.deviceID) { status in
                status.bytesIn += counts.in
                status.bytesOut += counts.out
            }
        }
    }
}

/// The first error a session's tasks hit.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var _error: Error?
    var error: Error? { lock.withLock { _error } }
    func set(_ error: Error) { lock.withLock { if _error == nil { _error = error } } }
}
