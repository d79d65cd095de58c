import Synchronization
import Foundation
import Logging
import NIOCore

/// One authenticated connection to one peer, after the hello exchange: the
/// driver of a `SessionMachine`, which holds every rule of the session.
///
/// The machine is fed from one loop, in order: messages read from the peer
/// (only while the machine reads inbound), completions of the store work it
/// asked for (each runs on the blocking pool, one of a kind at a time),
/// commits the change notifier sees, timers it asked for, messages the
/// writer handed to the socket, and `syncctl sync`. Its actions are carried
/// out here: sends go to the bounded outbox, which the writer drains; store
/// reads and merges run off the loop; reports become status, metrics and
/// logs. Any failure closes the connection.
final class PeerSession: @unchecked Sendable {
    let node: SyncNode
    let channel: Channel
    let peer: PeerConfig
    let peerReplica: ReplicaID
    let sendsToPeer: Bool
    let receivesFromPeer: Bool
    /// The peer decodes tabled batches (its hello says protocol 1.1 or later).
    let peerTakesTabledBatches: Bool
    /// The peer takes team-CA revocations (its hello says protocol 1.3 or later).
    let peerTakesRevocations: Bool
    /// The peer speaks 1.6: gossip without duplicates (replication-model §4.7).
    let peerGossips: Bool
    let connection: ConnectionContext
    let logger: Logger

    private let outbox: Outbox
    private let events: AsyncStream<SessionMachine.Event>
    private let post: AsyncStream<SessionMachine.Event>.Continuation
    private let permits: AsyncStream<Void>
    private let permit: AsyncStream<Void>.Continuation
    /// Reports are turned into status and logs in order, off the loop.
    private let reports: AsyncStream<SessionMachine.Report>
    private let reported: AsyncStream<SessionMachine.Report>.Continuation
    private let failure = FailureBox()
    private let started = ContinuousClock.now
    /// Store work started and not finished: `run` returns only after it
    /// ends, so a reconnect never reads a cursor that an old merge is about
    /// to write.
    private let inflight = Mutex(0)

    init(node: SyncNode, channel: Channel, peer: PeerConfig, hello: SyncMessage.Hello, connection: ConnectionContext, logger: Logger) {
        self.node = node
        self.channel = channel
        self.peer = peer
        peerReplica = hello.replica
        (sendsToPeer, receivesFromPeer, peerTakesTabledBatches) = SessionMachine.Settings.directions(mode: peer.mode, theirs: hello)
        peerTakesRevocations = hello.protocolMajor == SyncMessage.protocolMajor && hello.protocolMinor >= 3
        peerGossips = hello.protocolMajor == SyncMessage.protocolMajor && hello.protocolMinor >= SyncMessage.originsMinor
        self.connection = connection
        self.logger = logger
        // The machine closes the session first (`notReading`); the outbox's
        // own limit is a second fence.
        outbox = Outbox(limit: SessionMachine.outboxLimit + 2)
        (events, post) = AsyncStream.makeStream()
        (permits, permit) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        (reports, reported) = AsyncStream.makeStream()
    }

    var store: Store { node.store }
    var config: DaemonConfig { node.configBox.config }

    /// The machine's clock: milliseconds since the session started.
    private var now: SessionMachine.Millis { (ContinuousClock.now - started).millis }

    /// Runs until the connection ends; throws the reason it ended.
    func run(inbound: inout NIOAsyncChannelInboundStream<SyncMessage>.AsyncIterator,
             outbound: NIOAsyncChannelOutboundWriter<SyncMessage>) async throws {
        let config = self.config
        var initial = SessionMachine.Settings(sends: sendsToPeer, receives: receivesFromPeer, tabled: peerTakesTabledBatches,
                                               batchMaxSlots: config.batchMaxSlots, batchMaxBytes: config.batchMaxBytes,
                                               maxFrameBytes: config.maxFrameBytes,
                                               digestIntervalMillis: UInt64(config.digestIntervalSeconds * 1_000),
                                               keepaliveMillis: UInt64(config.keepaliveSeconds * 1_000))
        initial.revocations = peerTakesRevocations
        // Only where digest checks run (both ways) can a false claim be corrected (§4.7).
        initial.gossip = peerGossips && sendsToPeer && receivesFromPeer
        let settings = initial
        // Reports are turned into status until the last one, after the session ends.
        let reporter = Task { for await report in self.reports { await self.report(report) } }
        // The commits the machine hears about start from the value it starts from.
        let startSeq = node.notifier.highestSeq
        await withTaskGroup(of: Void.self) { group in
            let channel = self.channel
            let failure = self.failure
            let post = self.post
            func supervise(_ work: @escaping @Sendable () async throws -> Void) {
                group.addTask {
                    do { try await work() } catch is CancellationError {} catch {
                        failure.set(error)
                        channel.close(promise: nil)
                    }
                    post.finish()
                }
            }
            supervise {
                for await message in self.outbox.stream {
                    try await outbound.write(message)
                    self.outbox.didWrite()
                    self.post.yield(.written)
                }
            }
            supervise { try await self.accountTraffic() }
            supervise { try await self.watchCommits(from: startSeq) }
            supervise { try await self.watchSyncRequests() }
            if peerTakesRevocations { supervise { try await self.watchRevocations() } }
            group.addTask { await self.runMachine(settings, startSeq: startSeq) }

            // The reader, on this task (it owns the inbound half): one message
            // per permit, so the machine decides when the next one is read.
            do {
                for await _ in permits {
                    guard let message = try await inbound.next() else { break }
                    post.yield(.received(message))
                }
            } catch {
                failure.set(error)
            }
            post.finish()
            outbox.finish()
            group.cancelAll()
        }
        while inflight.withLock({ $0 }) > 0 { try? await Task.sleep(for: .milliseconds(5)) }
        reported.finish()
        await reporter.value
        if let error = failure.error { throw error }
    }

    /// The loop that owns the machine: every event, in order.
    private func runMachine(_ settings: SessionMachine.Settings, startSeq: UInt64) async {
        var machine = SessionMachine(settings: settings, now: now)
        var permitOut = false
        var wake: (at: SessionMachine.Millis, task: Task<Void, Never>)?
        func handle(_ event: SessionMachine.Event) {
            if case .received = event { permitOut = false }
            let at = now
            for action in machine.handle(event, at: at) {
                guard case .wake(let time) = action else {
                    carryOut(action)
                    continue
                }
                if let current = wake, current.at > at, current.at <= time { continue }
                wake?.task.cancel()
                let delay = time > at ? time - at : 0
                wake = (time, Task { [post] in
                    try? await Task.sleep(for: .milliseconds(Int64(delay)))
                    if !Task.isCancelled { post.yield(.tick) }
                })
            }
            if machine.readsInbound && !permitOut {
                permitOut = true
                permit.yield()
            }
        }
        handle(.start(highestSeq: startSeq))
        for await event in events {
            handle(event)
            if machine.closed { break }
        }
        wake?.task.cancel()
        permit.finish()
        channel.close(promise: nil)
    }

    /// One action of the machine; store work runs off the loop and posts its completion.
    private func carryOut(_ action: SessionMachine.Action) {
        let store = self.store
        let replica = peerReplica
        switch action {
        case .send(let message):
            do { try outbox.send(message) } catch { fail(error) }
        case .loadCursor:
            work { .cursorLoaded(try store.cursor(for: replica)) }
        case .merge(let changes, let cursor, let peerHighest, let claims):
            track {
                do {
                    let changed = try await self.merge(changes, cursor: cursor, peerHighest: peerHighest, claims: claims).changed
                    self.post.yield(.merged(changed: changed, repair: cursor == nil))
                } catch { self.fail(error) }
            }
        case .readFeed(let since, let maxCount, let maxBytes, let knowledge):
            let registry = node.registry, device = peer.deviceID
            work {
                let batch = try store.changes(since: since, maxCount: maxCount, maxBytes: maxBytes, for: replica, knowledge: knowledge)
                if batch.held > 0 { Task { await registry.update(device) { $0.slotsHeld = ($0.slotsHeld ?? 0) + UInt64(batch.held) } } }
                return .feedRead(changes: batch.changes, cursor: batch.cursor, hasMore: batch.hasMore, highest: batch.highest,
                                 knowledge: knowledge == nil ? nil : batch.knowledge, relayedOnly: batch.relayedOnly)
            }
        case .readKnowledge:
            work { .knowledgeRead(try store.knowledgeInOrder()) }
        case .readHighestSeq:
            work { .highestSeqRead(try store.highestSeq()) }
        case .readDigestPoint(let forAnswer):
            // Digest, seq and cursor from one read transaction: a write
            // committing between separate reads would pair a digest with a
            // seq it does not contain.
            work { .digestPointRead(try store.digestPoint(peer: replica), forAnswer: forAnswer) }
        case .readRepairPage(let buckets, let after, let maxCount, let maxBytes):
            work {
                let page = try store.slots(inBuckets: buckets, afterRecord: after, maxCount: maxCount, maxBytes: maxBytes)
                return .repairPageRead(changes: page.changes, next: page.next)
            }
        case .mergeKeptAside:
            // The files kept aside as the sync ends are the ones it clears
            // (one a join names later waits for a sync of its own).
            node.keptAsideFolds.fold(node.keptAsideFolds.clearedBySync())
        case .takeRevocations(let list):
            let peerName = peer.name
            track { await self.node.takeRevocations(list, from: peerName) }
        case .close(let error):
            fail(error)
        case .report(let report):
            reported.yield(report)
        case .wake:
            break
        }
    }

    /// Runs store work on the blocking pool and posts what it returns.
    private func work(_ body: @escaping @Sendable () throws -> SessionMachine.Event) {
        track {
            do { self.post.yield(try await Blocking.run(body)) } catch { self.fail(error) }
        }
    }

    /// Starts `body`, counted in `inflight` until it ends.
    private func track(_ body: @escaping @Sendable () async -> Void) {
        inflight.withLock { $0 += 1 }
        Task {
            await body()
            self.inflight.withLock { $0 -= 1 }
        }
    }

    private func fail(_ error: any Error) {
        failure.set(error)
        channel.close(promise: nil)
        post.finish()
    }

    /// Status, metrics and logs for what the machine reports.
    private func report(_ report: SessionMachine.Report) async {
        switch report {
        case .pulled(let cursor, let remoteHighest, let caughtUp, let slots, let changed):
            if changed > 0 {
                logger.debug("merged batch", metadata: ["peer": "\(peer.name)", "slots": "\(slots)", "changed": "\(changed)", "cursor": "\(cursor)"])
            }
            let now = Date()
            await node.registry.update(peer.deviceID) { status in
                status.cursor = cursor
                status.remoteHighestSeq = remoteHighest
                status.caughtUp = caughtUp
                status.lastSync = now
            }
            node.metrics.lag(peer: peer.name, remoteHighest > cursor ? remoteHighest - cursor : 0)
        case .caughtUp(let received, let changed, let cursor, let millis):
            logger.info("caught up", metadata: ["peer": "\(peer.name)", "received": "\(received)", "changed": "\(changed)",
                                                "cursor": "\(cursor)", "seconds": "\(String(format: "%.2f", Double(millis) / 1_000))"])
            node.metrics.syncDuration(peer: peer.name, .milliseconds(Int64(millis)))
        case .sentSlots(let count):
            await node.registry.update(peer.deviceID) { $0.slotsSent += UInt64(count) }
        case .digestMatched:
            logger.debug("digest matches", metadata: ["peer": "\(peer.name)"])
        case .digestSkipped:
            logger.debug("digest check skipped: changes in flight", metadata: ["peer": "\(peer.name)"])
            node.metrics.digestSkipped(peer: peer.name)
        case .digestMismatch(let buckets):
            node.metrics.digestMismatch(peer: peer.name)
            await node.registry.update(peer.deviceID) { $0.digestMismatches += 1 }
            logger.warning("digest mismatch after catching up: asking for the differing buckets again",
                           metadata: ["peer": "\(peer.name)", "buckets": "\(buckets)"])
        case .repairSent(let buckets, let slots):
            logger.info("sent digest repair", metadata: ["peer": "\(peer.name)", "buckets": "\(buckets)", "slots": "\(slots)"])
        case .repairReceived(let changed):
            logger.info("digest repair received", metadata: ["peer": "\(peer.name)", "changed": "\(changed)"])
        case .repairDelayed:
            logger.warning("peer asks for digest repairs faster than served: this one waits", metadata: [
                "peer": "\(peer.name)", "limit_per_minute": "\(SessionMachine.repairsPerMinute)"])
        }
    }

    /// Merges received slots (with the cursor, if any) and wakes our own servers
    /// so the changes travel on to other peers.
    private func merge(_ changes: [SlotChange], cursor: UInt64?, peerHighest: UInt64? = nil, claims: [KnowledgeEntry]? = nil) async throws -> ApplyReport {
        let store = self.store
        let replica = peerReplica
        let device = peer.deviceID.description
        let started = ContinuousClock.now
        let (report, highest): (ApplyReport, UInt64)
        do {
            (report, highest) = try await Blocking.run {
                let report = try store.apply(changes, from: replica, device: device, cursor: cursor, peerHighest: peerHighest, claims: claims,
                                             repair: cursor == nil)
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
        if report.forgotKnowledge {
            logger.notice("a digest repair changed slots here: forgot what this replica knew it held of others' feeds (peers send everything until it is learned again)",
                          metadata: ["peer": "\(peer.name)"])
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

    /// Tells the machine about every commit after `start`, ours or merged from any peer.
    private func watchCommits(from start: UInt64) async throws {
        var seen = start
        while !Task.isCancelled {
            try await node.notifier.wait(beyond: seen)
            seen = node.notifier.highestSeq
            post.yield(.committed(highestSeq: seen))
        }
    }

    /// `syncctl sync` bumps the registry's count: a digest check at once.
    private func watchSyncRequests() async throws {
        var seen = await node.registry.syncRequestCount
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(100))
            let requests = await node.registry.syncRequestCount
            if requests != seen {
                seen = requests
                post.yield(.syncRequested)
            }
        }
    }

    /// Hands the machine the revocations held, at the start and after each
    /// change (at most every `revocationRelayMillis`).
    private func watchRevocations() async throws {
        var seen = -1
        while !Task.isCancelled {
            let generation = node.revocationGeneration
            if generation != seen {
                seen = generation
                let list = node.teamRevocations
                if !list.isEmpty { post.yield(.revocationsChanged(list)) }
            }
            try await Task.sleep(for: .milliseconds(Int64(SessionMachine.revocationRelayMillis)))
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
