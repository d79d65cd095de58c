import Synchronization
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

    private let outbox: Outbox
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
        outbox = Outbox(limit: Self.outboxLimit)
        // What a peer may have outstanding with us: an honest one has at most
        // one pull beyond the one being served, one digest question, one
        // repair request; more is a violation, not a reason to buffer.
        (pullStream, pulls) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(Self.inboundQueueLimit))
        (batchStream, batches) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(Self.inboundQueueLimit))
        (digestStream, digests) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(Self.inboundQueueLimit))
        (repairStream, repairs) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(Self.inboundQueueLimit))
    }

    /// Messages queued for a peer before it counts as not reading.
    static let outboxLimit = 64
    /// Requests of one kind a peer may have waiting with us.
    static let inboundQueueLimit = 4
    /// Buckets one repair request may name (an honest peer asks for at most 32).
    static let maxRepairBuckets = 32
    /// Repair requests served per minute; more are answered at the next minute.
    static let repairsPerMinute = 4

    /// Queues `message` on the bounded stream, or throws the violation.
    private func enqueue<T: Sendable>(_ value: T, on continuation: AsyncStream<T>.Continuation, _ what: String) throws {
        if case .dropped = continuation.yield(value) {
            throw SessionError.protocolViolation("more than \(Self.inboundQueueLimit) \(what) outstanding")
        }
    }

    var store: Store { node.store }
    var config: DaemonConfig { node.configBox.config }

    func send(_ message: SyncMessage) throws { try outbox.send(message) }

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
                for await message in self.outbox.stream {
                    try await outbound.write(message)
                    self.outbox.didWrite()
                }
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
            outbox.finish()
            pulls.finish(); batches.finish(); digests.finish(); repairs.finish()
            group.cancelAll()
        }
        if let error = failure.error { throw error }
    }

    private func dispatch(_ message: SyncMessage) async throws {
        switch message {
        case .ping:
            try send(.pong)
        case .pong:
            break
        case .pull(let cursor, let maxCount, let maxBytes, let wait):
            guard sendsToPeer else { throw SessionError.protocolViolation("pulled, but this daemon does not send to \(peer.name) (mode \(peer.mode.rawValue))") }
            guard cursor <= ReceiveLimits.maxCounter else { throw SessionError.protocolViolation("pull from seq \(cursor), above 2^63-1") }
            try enqueue((cursor, maxCount, maxBytes, wait), on: pulls, "pulls")
        case .batch(let batch):
            guard receivesFromPeer else { throw SessionError.protocolViolation("sent a batch, but this daemon does not take changes from \(peer.name) (mode \(peer.mode.rawValue))") }
            try enqueue(batch, on: batches, "batches")
        case .digestRequest(let theirHighest):
            guard sendsToPeer else {
                // Our digest tells what we hold: not for a peer we do not
                // send to. An empty report answers without telling.
                try send(.digest(SyncMessage.DigestReport(buckets: [], highestSeq: 0, caughtUp: false)))
                return
            }
            let store = self.store
            let replica = peerReplica
            // Digest, seq and cursor from one read transaction: a write
            // committing between separate reads would pair a digest with a
            // seq it does not contain.
            let report = try await Blocking.run { () -> SyncMessage.DigestReport in
                let point = try store.digestPoint(peer: replica)
                return SyncMessage.DigestReport(buckets: point.digest.buckets, highestSeq: point.highestSeq,
                                                caughtUp: point.cursor >= theirHighest)
            }
            try send(.digest(report))
        case .digest(let report):
            try enqueue(report, on: digests, "digests")
        case .repairRequest(let buckets):
            guard sendsToPeer else { throw SessionError.protocolViolation("asked for a repair, but this daemon does not send to \(peer.name)") }
            guard buckets.count <= Self.maxRepairBuckets else {
                throw SessionError.protocolViolation("repair request for \(buckets.count) buckets (limit \(Self.maxRepairBuckets))")
            }
            try enqueue(buckets, on: repairs, "repair requests")
        case .repairBatch(let changes, let last):
            guard receivesFromPeer else { throw SessionError.protocolViolation("sent a repair batch, but this daemon does not take changes from \(peer.name)") }
            let report = try await merge(changes, cursor: nil)
            if last { logger.info("digest repair received", metadata: ["peer": "\(peer.name)", "changed": "\(report.changed)"]) }
        case .hello:
            throw SessionError.protocolViolation("a second hello")
        case .replicaProof:
            throw SessionError.protocolViolation("a replica proof after the session started")
        case .goodbye(let reason):
            throw SessionError.closedByPeer(SessionError.bounded(reason))
        }
    }

    /// Merges received slots (with the cursor, if any) and wakes our own servers
    /// so the changes travel on to other peers.
    private func merge(_ changes: [SlotChange], cursor: UInt64?) async throws -> ApplyReport {
        let store = self.store
        let replica = peerReplica
        let device = peer.deviceID.description
        let started = ContinuousClock.now
        let (report, highest): (ApplyReport, UInt64)
        do {
            (report, highest) = try await Blocking.run {
                let report = try store.apply(changes, from: replica, device: device, cursor: cursor)
                return (report, try store.highestSeq())
            }
        } catch StoreError.batchRefused(let refusal) {
            await node.registry.countRefusedBatch()
            node.metrics.refusedBatch(peer: peer.name)
            logger.warning("refused a batch from the peer: nothing of it stored", metadata: ["peer": "\(peer.name)", "reason": "\(refusal)"])
            throw SessionError.protocolViolation("batch refused: \(refusal)")
        }
        node.notifier.advance(to: highest)
        node.metrics.applied(report, duration: ContinuousClock.now - started)
        if report.futureVersions > 0 {
            logger.warning("peer sent versions dated in the future; stored, not used to move the clock",
                           metadata: ["peer": "\(peer.name)", "count": "\(report.futureVersions)"])
        }
        if let renewed = report.renewedReplica {
            logger.warning("our own replica id came back with a counter we never issued (a copy of this database, or a lying peer): took a new replica id, so no dot is issued twice",
                           metadata: ["peer": "\(peer.name)", "replica": "\(renewed)"])
        }
        if report.dotCollisions > 0 {
            logger.warning("peer holds dots with other content than ours (two databases shared a replica id): merged deterministically, listed by `syncctl check`",
                           metadata: ["peer": "\(peer.name)", "count": "\(report.dotCollisions)"])
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
            func pull(from cursor: UInt64, wait: Bool) throws {
                // A batch must fit our own frame limit, whatever the sender's batch size.
                try send(.pull(cursor: cursor, maxCount: UInt32(config.batchMaxSlots),
                               maxBytes: UInt32(min(config.batchMaxBytes, config.maxFrameBytes / 2)), wait: wait))
                requested = cursor
            }
            if requested == nil { try pull(from: try await Blocking.run { try store.cursor(for: replica) }, wait: wait) }
            guard let batch = await iterator.next(), let cursor = requested else { return }
            requested = nil

            if batch.hasMore { try pull(from: batch.cursor, wait: false) }
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
                let logger = self.logger
                try await Blocking.run { Snapshots.mergeAndRemoveKeptAside(into: store, logger: logger) }
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

    /// How soon a digest check skipped for changes in flight is first tried again.
    static let digestRetryDelay: Duration = .seconds(2)

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
                try send(.batch(.init(changes: batch.changes, cursor: batch.cursor, hasMore: batch.hasMore, highestSeq: node.notifier.highestSeq,
                                    tabled: peerTakesTabledBatches)))
                if !batch.changes.isEmpty {
                    await node.registry.update(peer.deviceID) { $0.slotsSent += UInt64(batch.changes.count) }
                }
                break
            }
        }
    }

    /// Answers repair requests page by page: memory holds one batch, not
    /// the buckets' whole content, and at most `repairsPerMinute` requests
    /// are served a minute (each reads every record once).
    private func serveRepairs() async throws {
        let store = self.store
        var served: [ContinuousClock.Instant] = []
        for await buckets in repairStream {
            served.removeAll { ContinuousClock.now - $0 > .seconds(60) }
            if served.count >= Self.repairsPerMinute, let oldest = served.first {
                logger.warning("peer asks for digest repairs faster than served: this one waits", metadata: [
                    "peer": "\(peer.name)", "limit_per_minute": "\(Self.repairsPerMinute)"])
                try await Task.sleep(until: oldest + .seconds(60), clock: .continuous)
                served.removeFirst()
            }
            served.append(ContinuousClock.now)
            let size = max(1, config.batchMaxSlots)
            var after: Int64 = 0
            var total = 0
            while true {
                try await outbox.waitForRoom(below: 4)
                let from = after
                let maxBytes = min(config.batchMaxBytes, config.maxFrameBytes / 2)
                let page = try await Blocking.run { try store.slots(inBuckets: buckets, afterRecord: from, maxCount: size, maxBytes: maxBytes) }
                total += page.changes.count
                try send(.repairBatch(changes: page.changes, last: page.next == nil))
                guard let next = page.next else { break }
                after = next
            }
            logger.info("sent digest repair", metadata: ["peer": "\(peer.name)", "buckets": "\(buckets.count)", "slots": "\(total)"])
        }
    }

    /// Once caught up, compares digests every `digest_interval_seconds` (or at
    /// once after `syncctl sync`); differing buckets are asked for again.
    private func digestLoop() async throws {
        var iterator = digestStream.makeAsyncIterator()
        var lastCheck = ContinuousClock.now
        var retryDelay = Self.digestRetryDelay
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
            let asked = try await Blocking.run { try store.highestSeq() }
            try send(.digestRequest(highestSeq: asked))
            guard let report = await iterator.next() else { return }
            let local = try await Blocking.run { try store.digestPoint(peer: replica) }
            // Compare only two states that hold the same changes: the peer has
            // merged all we had when we asked, we have merged all it had when
            // it answered, and nothing was written here since we asked. A
            // write during the round trip is not a mismatch: the next check
            // sees it (replication-model §4).
            guard DigestComparison.comparable(askedAt: asked, report: report, local: local) else {
                // Changes in flight: try again in a few seconds, not a whole
                // interval later, so a busy team still gets its checks.
                logger.debug("digest check skipped: changes in flight", metadata: ["peer": "\(peer.name)"])
                node.metrics.digestSkipped(peer: peer.name)
                // Backing off (2 s, 4 s, … up to the interval) keeps a steadily
                // busy link from paying a digest round trip every 2 s.
                lastCheck = ContinuousClock.now - .milliseconds(Int(config.digestIntervalSeconds * 1_000)) + retryDelay
                retryDelay = min(retryDelay * 2, .milliseconds(Int(config.digestIntervalSeconds * 1_000)))
                continue
            }
            retryDelay = Self.digestRetryDelay
            let differing = local.digest.differingBuckets(from: StateDigest(buckets: report.buckets))
            guard !differing.isEmpty else {
                logger.debug("digest matches", metadata: ["peer": "\(peer.name)"])
                continue
            }
            node.metrics.digestMismatch(peer: peer.name)
            await node.registry.update(peer.deviceID) { $0.digestMismatches += 1 }
            logger.warning("digest mismatch after catching up: asking for the differing buckets again",
                           metadata: ["peer": "\(peer.name)", "buckets": "\(differing.count)"])
            try send(.repairRequest(buckets: differing.prefix(Self.maxRepairBuckets).map { UInt8($0) }))
        }
    }

    private func keepalive() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(Int(config.keepaliveSeconds * 1_000)))
            try send(.ping)
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
final class FailureBox: Sendable {
    private let first = Mutex<(any Error)?>(nil)
    var error: (any Error)? { first.withLock { $0 } }
    func set(_ error: any Error) { first.withLock { if $0 == nil { $0 = error } } }
}
