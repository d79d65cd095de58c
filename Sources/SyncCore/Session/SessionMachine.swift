/// The rules of one session after the hellos, as a state machine without
/// I/O, clock or randomness (docs/protocol.md, "A session"; replication-model
/// §4). A driver feeds it events (a message received, a merge finished, a
/// feed page read, a local commit, a timer) and carries out the actions it
/// returns (send, merge, read the feed, read a digest, wake me at, close).
/// `PeerSession` drives it over NIO; the simulator drives it over a
/// simulated network with real stores.
///
/// Bounds (operations, "Limits"): at most `outboxLimit` messages queued
/// for a peer that does not read; at most `inboundQueueLimit` pulls, batches
/// and digest reports waiting; one merge, one feed read, one digest read at
/// a time; repair requests of at most `maxRepairBuckets` buckets, served at
/// most `repairsPerMinute` a minute, a page at a time.
public struct SessionMachine: Sendable {
    /// Milliseconds on a monotonic clock the driver chooses (the simulator's
    /// virtual clock, or `ContinuousClock` since the session started).
    public typealias Millis = UInt64

    public struct Settings: Sendable, Equatable {
        /// We answer the peer's pulls (our mode sends, its hello receives).
        public var sends: Bool
        /// We pull from the peer (our mode receives, its hello sends).
        public var receives: Bool
        /// The peer decodes tabled batches (minor ≥ 1).
        public var tabled: Bool
        public var batchMaxSlots: Int
        public var batchMaxBytes: Int
        public var maxFrameBytes: Int
        public var digestIntervalMillis: Millis
        public var keepaliveMillis: Millis
        /// The peer takes team-CA revocations (minor ≥ 3).
        public var revocations = false
        /// The peer speaks gossip without duplicates (minor ≥ 6,
        /// replication-model §4.7) and the session goes both ways (so digest
        /// checks correct a false claim): knowledge goes both ways, batches
        /// carry origins, and a waiting pull whose answer holds only
        /// relayed states is read again `relayDelayMillis` later.
        public var gossip = false
        public var relayDelayMillis: Millis = GossipRules.relayDelayMillis
        /// How long the puller gathers changes of its knowledge into one message.
        public var knowledgeGatherMillis: Millis = GossipRules.knowledgeGatherMillis
        /// The least time between two batches that carry our knowledge.
        public var claimsIntervalMillis: Millis = GossipRules.claimsIntervalMillis

        public init(sends: Bool, receives: Bool, tabled: Bool, batchMaxSlots: Int, batchMaxBytes: Int, maxFrameBytes: Int,
                    digestIntervalMillis: Millis, keepaliveMillis: Millis) {
            self.sends = sends
            self.receives = receives
            self.tabled = tabled
            self.batchMaxSlots = batchMaxSlots
            self.batchMaxBytes = batchMaxBytes
            self.maxFrameBytes = maxFrameBytes
            self.digestIntervalMillis = digestIntervalMillis
            self.keepaliveMillis = keepaliveMillis
        }

        /// Which ways changes go on a session: we send if our mode sends and
        /// the peer's hello takes changes, we pull if our mode receives and
        /// the peer's hello sends; tabled batches from minor 1 on.
        public static func directions(mode: PeerMode, theirs: SyncMessage.Hello) -> (sends: Bool, receives: Bool, tabled: Bool) {
            (mode.sends && theirs.willReceive, mode.receives && theirs.willSend, theirs.protocolMinor >= 1)
        }

        /// The most bytes of states a batch may carry, either way: a batch
        /// must fit our own frame limit, whatever the sender's batch size.
        var batchBytes: Int { min(batchMaxBytes, maxFrameBytes / 2) }
    }

    /// Messages queued for a peer before it counts as not reading.
    public static let outboxLimit = 64
    /// Requests of one kind a peer may have waiting with us.
    public static let inboundQueueLimit = 4
    /// Buckets one repair request may name (an honest peer asks for at most 32).
    public static let maxRepairBuckets = 32
    /// Repair requests served per minute; more wait for the minute.
    public static let repairsPerMinute = 4
    /// Repair pages are read only while fewer messages than this wait to be written.
    static let repairRoom = 4
    /// How soon a digest check skipped for changes in flight is first tried again.
    public static let digestRetryMillis: Millis = 2_000
    /// How long a held pull may sit on a cursor advanced only over echoes.
    public static let echoCursorMillis: Millis = 1_000

    /// What happens to the machine from outside.
    public enum Event: Sendable {
        /// The hellos are done: start pulling, serving and checking.
        case start(highestSeq: UInt64)
        case received(SyncMessage)
        /// Our stored cursor for the peer (after `loadCursor`).
        case cursorLoaded(UInt64)
        /// A `merge` finished; `changed` slots changed. `repair` tells which
        /// merge (a repair batch's, or a pull's answer's): both can run at once.
        case merged(changed: Int, repair: Bool)
        /// A `readFeed` finished.
        /// `highest`: our highest seq in the read that found them (0: unknown).
        /// `knowledge`: ours, read with a batch that reached our highest seq
        /// for a 1.6 peer (nil: not read). `relayedOnly`: every change in it
        /// came unchanged from another replica (none is ours).
        case feedRead(changes: [SlotChange], cursor: UInt64, hasMore: Bool, highest: UInt64 = 0, knowledge: [KnowledgeEntry]? = nil,
                      relayedOnly: Bool = false)
        /// A `readKnowledge` finished: what we hold of others' feeds.
        case knowledgeRead([KnowledgeEntry])
        /// Something committed locally (or was merged from any peer): the
        /// highest seq now.
        case committed(highestSeq: UInt64)
        /// A `readHighestSeq` (for a digest question) finished.
        case highestSeqRead(UInt64)
        /// A `readDigestPoint` finished.
        case digestPointRead(Store.DigestPoint, forAnswer: Bool)
        /// A `readRepairPage` finished.
        case repairPageRead(changes: [SlotChange], next: Int64?)
        /// One queued message was handed to the connection.
        case written
        /// `syncctl sync`: check digests now.
        case syncRequested
        /// The revocations this daemon holds, at the start and when they change:
        /// sent to a peer that takes them.
        case revocationsChanged([SignedRevocation])
        /// Time passed (at a `wake` the machine asked for, or any other time).
        case tick
    }

    /// What the driver is to do, in order.
    public enum Action: Sendable, Equatable {
        case send(SyncMessage)
        case loadCursor
        /// Merge `changes` from the peer, storing `cursor` with them (nil for repairs).
        /// `peerHighest`: the peer's highest seq as its batch said (stored with the cursor).
        /// `claims`: the knowledge a 1.6 batch that reached the peer's highest
        /// seq carried (maybe none): learn from it. Nil: learn nothing.
        case merge([SlotChange], cursor: UInt64?, peerHighest: UInt64? = nil, claims: [KnowledgeEntry]? = nil)
        /// `knowledge`: what the puller said it holds (nil: a peer below 1.6).
        case readFeed(since: UInt64, maxCount: Int, maxBytes: Int, knowledge: [ReplicaID: UInt64]? = nil)
        /// Read what we hold of others' feeds (`Store.knowledge`), to tell the peer.
        case readKnowledge
        case readHighestSeq
        /// Read digest, highest seq and cursor in one transaction: to answer
        /// the peer's question (`forAnswer`), or to compare with its answer.
        case readDigestPoint(forAnswer: Bool)
        case readRepairPage(buckets: [UInt8], after: Int64, maxCount: Int, maxBytes: Int)
        /// Fold a database kept aside by a restore back in (after catching up).
        case mergeKeptAside
        /// Check the peer's revocations against the team CA and keep the good ones.
        case takeRevocations([SignedRevocation])
        /// Deliver a `tick` at this time (earliest wins; later ones may be dropped).
        case wake(at: Millis)
        case close(SessionError)
        case report(Report)
    }

    /// What the driver logs, counts and shows in `syncctl status`.
    public enum Report: Sendable, Equatable {
        /// A pull's answer was merged: where the peer's feed stands.
        case pulled(cursor: UInt64, remoteHighestSeq: UInt64, caughtUp: Bool, slots: Int, changed: Int)
        /// Caught up with the peer after a catch-up of `received` slots.
        case caughtUp(received: Int, changed: Int, cursor: UInt64, millis: Millis)
        case sentSlots(Int)
        case digestMatched
        case digestSkipped
        case digestMismatch(buckets: Int)
        case repairSent(buckets: Int, slots: Int)
        case repairReceived(changed: Int)
        /// A repair request waits for the per-minute limit.
        case repairDelayed
    }

    public let settings: Settings
    public private(set) var now: Millis
    /// The inbound half is read only while this holds: a merge of a repair
    /// batch or the answer to a digest question is in progress (the peer
    /// waits for us, as it would on a slow socket).
    public var readsInbound: Bool { inline == nil && !closed }
    public private(set) var closed = false
    /// Messages queued for writing.
    public private(set) var queued = 0

    private var highestSeq: UInt64 = 0
    private var started = false
    private var inline: Inline?
    private enum Inline: Equatable { case repairMerge(last: Bool), digestAnswer(theirHighest: UInt64) }

    // Puller.
    private var requested: UInt64?
    private var cursorLoading = false
    private var waitNext = false
    private var batches: [SyncMessage.Batch] = []
    private var merging: SyncMessage.Batch?
    private var catchUp: (started: Millis, received: Int, changed: Int) = (0, 0, 0)
    private var caughtUp = false
    // Puller, 1.6: what we told the peer we hold; a read of it under way;
    // another wanted after it (something committed meanwhile), from when.
    private var toldServer: [ReplicaID: UInt64] = [:]
    private var knowledgeReading = false
    private var knowledgeWanted: Millis?
    /// The claims each queued batch carried, resolved on arrival (in order).
    private var batchClaims: [[KnowledgeEntry]?] = []
    // 1.6: replicas numbered in the knowledge we send and in what we receive.
    private var numberingOut = KnowledgeNumbering()
    private var numberingIn = KnowledgeNumbering()

    // Server.
    private struct Pull: Equatable { var cursor: UInt64; var maxCount: UInt32; var maxBytes: UInt32; var wait: Bool }
    private var pulls: [Pull] = []
    private var serving: Pull?
    private var servingCursor: UInt64 = 0
    private var holding = false
    private var echoDeadline: Millis?
    private var servedToEnd = false
    // Server, 1.6: what the puller said it holds; what we told it we hold;
    // when a held pull woken by a commit is read.
    private var pullerKnowledge: [ReplicaID: UInt64] = [:]
    private var toldPuller: [ReplicaID: UInt64] = [:]
    private var relayAt: Millis?
    /// The pull being served was read again after the relay delay already.
    private var relayWaited = false
    private var lastClaims: Millis?

    // Repairs we serve.
    private var repairs: [[UInt8]] = []
    private var repairing: (buckets: [UInt8], after: Int64, total: Int)?
    private var repairReading = false
    private var repairsServed: [Millis] = []

    // Digest checks we make.
    private enum Digest: Equatable { case idle, readingAsked, awaiting(asked: UInt64), readingLocal(asked: UInt64) }
    private var digest = Digest.idle
    private var reports: [SyncMessage.DigestReport] = []
    private var nextCheck: Millis = 0
    private var retryMillis = SessionMachine.digestRetryMillis
    private var syncRequested = false
    private var pendingReport: SyncMessage.DigestReport?

    private var nextPing: Millis = 0
    /// When the peer's last revocation messages came (for `maxRevocationMessagesPerMinute`).
    private var revocationMessages: [Millis] = []

    /// Revocation messages a peer may send a minute: an honest one sends one
    /// at the start and one per change of its list, at most every
    /// `revocationRelayMillis` (30 a minute); twice that leaves room for
    /// jitter. Each new entry costs a signature check.
    public static let maxRevocationMessagesPerMinute = 60
    public static let revocationRelayMillis: Millis = 2_000

    public init(settings: Settings, now: Millis) {
        self.settings = settings
        self.now = now
    }

    /// Feeds one event at time `now` (never earlier than the last) and returns what to do.
    public mutating func handle(_ event: Event, at now: Millis) -> [Action] {
        self.now = max(self.now, now)
        guard !closed else { return [] }
        var out = Output()
        step(event, &out)
        if !closed { advance(&out) }
        if let error = out.failure {
            closed = true
            return out.actions + [.close(error)]
        }
        return out.actions
    }

    private struct Output {
        var actions: [Action] = []
        var failure: SessionError?
    }

    // MARK: - Events

    private mutating func step(_ event: Event, _ out: inout Output) {
        switch event {
        case .start(let highest):
            guard !started else { return }
            started = true
            highestSeq = max(highestSeq, highest)
            catchUp.started = now
            if settings.gossip && settings.receives { knowledgeWanted = now }
            nextCheck = now + settings.digestIntervalMillis
            nextPing = now + settings.keepaliveMillis
        case .received(let message):
            receive(message, &out)
        case .cursorLoaded(let cursor):
            cursorLoading = false
            if requested == nil { pull(from: cursor, wait: waitNext, &out) }
        case .merged(let changed, let repair):
            mergeFinished(changed: changed, repair: repair, &out)
        case .feedRead(let changes, let cursor, let hasMore, let highest, let knowledge, let relayedOnly):
            // The batch tells the highest seq of the read it comes from, never
            // less: the puller's record of how far we were (`peer_highest`).
            highestSeq = max(highestSeq, highest)
            // 1.6: a waiting pull whose answer holds only states we relay
            // waits a moment and is read again, so a puller that got them
            // from another peer can say so first (§4.7). Our own writes go at once.
            if settings.gossip, relayedOnly, !changes.isEmpty, !relayWaited, settings.relayDelayMillis > 0, serving?.wait == true {
                relayWaited = true
                relayAt = now + settings.relayDelayMillis
                holding = true
                return
            }
            feedRead(changes: changes, cursor: cursor, hasMore: hasMore, knowledge: knowledge, &out)
        case .committed(let highest):
            highestSeq = max(highestSeq, highest)
            if settings.gossip && settings.receives && knowledgeWanted == nil { knowledgeWanted = now + settings.knowledgeGatherMillis }
        case .knowledgeRead(let known):
            knowledgeReading = false
            let words = numberingOut.words(GossipRules.changes(from: toldServer, to: known, numbered: numberingOut.isNumbered))
            if !words.isEmpty {
                // What was numbered was told; an entry past the numbering limit was not.
                GossipRules.told(numberingOut.sent(words), into: &toldServer)
                send(.knowledge(words), &out)
            }
        case .highestSeqRead(let asked):
            guard digest == .readingAsked else { return }
            send(.digestRequest(highestSeq: asked), &out)
            digest = .awaiting(asked: asked)
        case .digestPointRead(let point, let forAnswer):
            digestPointRead(point, forAnswer: forAnswer, &out)
        case .repairPageRead(let changes, let next):
            repairReading = false
            guard var current = repairing else { return }
            current.total += changes.count
            send(.repairBatch(changes: changes, last: next == nil), &out)
            if let next {
                current.after = next
                repairing = current
            } else {
                repairing = nil
                out.actions.append(.report(.repairSent(buckets: current.buckets.count, slots: current.total)))
            }
        case .written:
            queued = max(0, queued - 1)
        case .syncRequested:
            syncRequested = true
        case .revocationsChanged(let list):
            if settings.revocations, !list.isEmpty { send(.revocations(list), &out) }
        case .tick:
            break
        }
    }

    private mutating func receive(_ message: SyncMessage, _ out: inout Output) {
        switch message {
        case .ping:
            send(.pong, &out)
        case .pong:
            break
        case .pull(let cursor, let maxCount, let maxBytes, let wait):
            guard settings.sends else { return fail(.protocolViolation("pulled, but this daemon does not send to the peer"), &out) }
            guard cursor <= ReceiveLimits.maxCounter else { return fail(.protocolViolation("pull from seq \(cursor), above 2^63-1"), &out) }
            guard pulls.count < Self.inboundQueueLimit else { return fail(.protocolViolation("more than \(Self.inboundQueueLimit) pulls outstanding"), &out) }
            pulls.append(Pull(cursor: cursor, maxCount: maxCount, maxBytes: maxBytes, wait: wait))
        case .batch(let batch):
            guard settings.receives else { return fail(.protocolViolation("sent a batch, but this daemon does not take changes from the peer"), &out) }
            guard batches.count < Self.inboundQueueLimit else { return fail(.protocolViolation("more than \(Self.inboundQueueLimit) batches outstanding"), &out) }
            guard let claims = numberingIn.entries(settings.gossip ? batch.knowledge : []) else {
                return fail(.protocolViolation("a batch's knowledge breaks the replica numbering"), &out)
            }
            var received = batch
            // Origins count only from a 1.6 peer on a two-way session (§4.7).
            if !settings.gossip, received.changes.contains(where: { $0.origin != nil }) {
                received.changes = received.changes.map { SlotChange(key: $0.key, state: $0.state) }
            }
            batches.append(received)
            // Learned from only when it ends exactly at the peer's highest seq
            // as read with it (a cursor past it: the peer's feed went back).
            batchClaims.append(settings.gossip && !received.hasMore && received.cursor == received.highestSeq ? claims : nil)
        case .digestRequest(let theirHighest):
            guard settings.sends else {
                // Our digest tells what we hold: not for a peer we do not
                // send to. An empty report answers without telling.
                return send(.digest(SyncMessage.DigestReport(buckets: [], highestSeq: 0, caughtUp: false)), &out)
            }
            // Digest, seq and cursor from one read: answered before the next message is read.
            inline = .digestAnswer(theirHighest: theirHighest)
            out.actions.append(.readDigestPoint(forAnswer: true))
        case .digest(let report):
            guard reports.count < Self.inboundQueueLimit else { return fail(.protocolViolation("more than \(Self.inboundQueueLimit) digests outstanding"), &out) }
            reports.append(report)
        case .repairRequest(let buckets):
            guard settings.sends else { return fail(.protocolViolation("asked for a repair, but this daemon does not send to the peer"), &out) }
            guard buckets.count <= Self.maxRepairBuckets else {
                return fail(.protocolViolation("repair request for \(buckets.count) buckets (limit \(Self.maxRepairBuckets))"), &out)
            }
            guard repairs.count < Self.inboundQueueLimit else { return fail(.protocolViolation("more than \(Self.inboundQueueLimit) repair requests outstanding"), &out) }
            repairs.append(buckets)
        case .repairBatch(let changes, let last):
            guard settings.receives else { return fail(.protocolViolation("sent a repair batch, but this daemon does not take changes from the peer"), &out) }
            inline = .repairMerge(last: last)
            out.actions.append(.merge(changes, cursor: nil))
        case .hello:
            fail(.protocolViolation("a second hello"), &out)
        case .replicaProof:
            fail(.protocolViolation("a replica proof after the session started"), &out)
        case .invitationClaim:
            fail(.protocolViolation("an invitation claim after the session started"), &out)
        case .snapshotPull, .snapshotChunk, .snapshotEnd:
            fail(.protocolViolation("\(message.kind) after the session started (a join snapshot is exchanged only before it)"), &out)
        case .knowledge(let words):
            guard let entries = numberingIn.entries(words) else {
                return fail(.protocolViolation("knowledge that breaks the replica numbering"), &out)
            }
            // Only ever used to skip what the peer holds: kept within the limit.
            if settings.gossip && settings.sends { GossipRules.take(entries, into: &pullerKnowledge) }
        case .revocations(let list):
            revocationMessages = revocationMessages.filter { now - $0 < 60_000 } + [now]
            guard revocationMessages.count <= Self.maxRevocationMessagesPerMinute else {
                return fail(.protocolViolation("more than \(Self.maxRevocationMessagesPerMinute) revocation messages in a minute"), &out)
            }
            if !list.isEmpty { out.actions.append(.takeRevocations(list)) }
        case .goodbye(let reason):
            fail(.closedByPeer(SessionError.bounded(reason)), &out)
        }
    }

    // MARK: - Puller

    private mutating func pull(from cursor: UInt64, wait: Bool, _ out: inout Output) {
        send(.pull(cursor: cursor, maxCount: UInt32(clamping: settings.batchMaxSlots), maxBytes: UInt32(clamping: settings.batchBytes), wait: wait), &out)
        requested = cursor
    }

    private mutating func mergeFinished(changed: Int, repair: Bool, _ out: inout Output) {
        if repair {
            guard case .repairMerge(let last) = inline else { return }
            inline = nil
            // A repair that changed something dropped our knowledge (`Store.apply`):
            // tell the peer what is left.
            if changed > 0 && settings.gossip && knowledgeWanted == nil { knowledgeWanted = now }
            if last {
                repairAsked = false
                out.actions.append(.report(.repairReceived(changed: changed)))
            }
            return
        }
        guard let batch = merging else { return }
        merging = nil
        catchUp.received += batch.changes.count
        catchUp.changed += changed
        finishBatch(batch, changed: changed, &out)
    }

    /// After a pull's answer is merged (or needed no merge).
    private mutating func finishBatch(_ batch: SyncMessage.Batch, changed: Int, _ out: inout Output) {
        if !waitNext && !batch.hasMore {
            out.actions.append(.report(.caughtUp(received: catchUp.received, changed: catchUp.changed, cursor: batch.cursor,
                                                 millis: now - catchUp.started)))
            out.actions.append(.mergeKeptAside)
        }
        waitNext = !batch.hasMore
        caughtUp = !batch.hasMore
        out.actions.append(.report(.pulled(cursor: batch.cursor, remoteHighestSeq: max(batch.highestSeq, batch.cursor), caughtUp: caughtUp,
                                           slots: batch.changes.count, changed: changed)))
    }

    // MARK: - Server

    private mutating func feedRead(changes: [SlotChange], cursor: UInt64, hasMore: Bool, knowledge: [KnowledgeEntry]?, _ out: inout Output) {
        guard let pull = serving else { return }
        if changes.isEmpty && pull.wait {
            // Nothing to send, or only echoes of what this peer sent us: keep
            // holding the pull rather than answer with an empty batch (a frame
            // each way per write). An advance over echoes is told within
            // `echoCursorMillis` if no real change carries it sooner, so the
            // peer's cursor, which gates digest checks, still catches up.
            servingCursor = cursor
            // Held again: the next relayed answer waits again.
            relayWaited = false
            if hasMore { return readFeed(&out) }
            if cursor == pull.cursor {
                holding = true
                return
            }
            let deadline = echoDeadline ?? now + Self.echoCursorMillis
            echoDeadline = deadline
            if now < deadline {
                holding = true
                return
            }
        }
        var batch = SyncMessage.Batch(changes: changes, cursor: cursor, hasMore: hasMore, highestSeq: highestSeq, tabled: settings.tabled)
        // Our knowledge goes with a batch that brings the peer to our highest
        // seq as it will read it (only then does it take it), what rose since
        // this session last sent it.
        // At most one such batch per `claimsIntervalMillis`: what rises
        // meanwhile goes with the next.
        if settings.gossip, settings.tabled, let knowledge, !hasMore, cursor >= highestSeq,
           lastClaims.map({ now >= $0 + settings.claimsIntervalMillis }) ?? true {
            batch.knowledge = numberingOut.words(GossipRules.risen(knowledge, since: toldPuller))
            GossipRules.told(numberingOut.sent(batch.knowledge), into: &toldPuller)
            if !batch.knowledge.isEmpty { lastClaims = now }
        }
        send(.batch(batch), &out)
        if !changes.isEmpty { out.actions.append(.report(.sentSlots(changes.count))) }
        if !hasMore && !settings.receives && !servedToEnd {
            // A session that only sends succeeds when the peer has read our
            // feed to its end: that is its sync, after which a database kept
            // aside by a restore is merged back (replication-model §7). A
            // replica that sends on every link would otherwise keep it aside
            // for ever, with the writes made after the snapshot in it.
            servedToEnd = true
            out.actions.append(.mergeKeptAside)
        }
        serving = nil
        holding = false
        echoDeadline = nil
        relayAt = nil
        relayWaited = false
    }

    private mutating func readFeed(_ out: inout Output) {
        guard let pull = serving else { return }
        holding = false
        relayAt = nil
        let maxCount = Int(min(pull.maxCount, UInt32(clamping: settings.batchMaxSlots)))
        let maxBytes = Int(min(pull.maxBytes, UInt32(clamping: settings.batchBytes)))
        out.actions.append(.readFeed(since: servingCursor, maxCount: max(1, maxCount), maxBytes: max(1_024, maxBytes),
                                     knowledge: settings.gossip ? pullerKnowledge : nil))
    }

    // MARK: - Digest checks

    private mutating func digestPointRead(_ point: Store.DigestPoint, forAnswer: Bool, _ out: inout Output) {
        if forAnswer {
            guard case .digestAnswer(let theirHighest) = inline else { return }
            inline = nil
            return send(.digest(SyncMessage.DigestReport(buckets: point.digest.buckets, highestSeq: point.highestSeq,
                                                         caughtUp: point.cursor >= theirHighest)), &out)
        }
        guard case .readingLocal(let asked) = digest, let report = pendingReport else { return }
        digest = .idle
        pendingReport = nil
        // Compare only two states that hold the same changes (replication-model §4.5).
        guard DigestComparison.comparable(askedAt: asked, report: report, local: point) else {
            // Changes in flight: try again soon, backing off (2 s, 4 s, … up
            // to the interval) so a steadily busy link does not pay a round
            // trip every 2 s.
            out.actions.append(.report(.digestSkipped))
            nextCheck = now + retryMillis
            retryMillis = min(retryMillis * 2, settings.digestIntervalMillis)
            return
        }
        retryMillis = Self.digestRetryMillis
        let differing = point.digest.differingBuckets(from: StateDigest(buckets: report.buckets))
        guard !differing.isEmpty else { return out.actions.append(.report(.digestMatched)) }
        out.actions.append(.report(.digestMismatch(buckets: differing.count)))
        repairAsked = true
        send(.repairRequest(buckets: differing.prefix(Self.maxRepairBuckets).map { UInt8($0) }), &out)
    }

    // MARK: - Moving on

    /// Starts whatever can start now, and asks to be woken for what waits on time.
    private mutating func advance(_ out: inout Output) {
        guard started else { return }
        var wake: Millis?
        func wakeAt(_ time: Millis) { wake = min(wake ?? time, time) }

        // Keepalive.
        if now >= nextPing {
            send(.ping, &out)
            nextPing = now + settings.keepaliveMillis
        }
        wakeAt(nextPing)

        // Puller: a pull outstanding (or the cursor being read), batches merged in order.
        if settings.receives {
            if requested == nil && merging == nil && !cursorLoading {
                cursorLoading = true
                out.actions.append(.loadCursor)
            }
            if merging == nil, let cursor = requested, !batches.isEmpty {
                let batch = batches.removeFirst()
                let claims = batchClaims.removeFirst()
                requested = nil
                // While this batch is merged, the peer reads and sends the next.
                if batch.hasMore { pull(from: batch.cursor, wait: false, &out) }
                if !batch.changes.isEmpty || batch.cursor != cursor || !(claims?.isEmpty ?? true) {
                    merging = batch
                    out.actions.append(.merge(batch.changes, cursor: batch.cursor, peerHighest: max(batch.highestSeq, batch.cursor),
                                              claims: claims))
                } else {
                    finishBatch(batch, changed: 0, &out)
                    if requested == nil && !cursorLoading {
                        cursorLoading = true
                        out.actions.append(.loadCursor)
                    }
                }
            }
        }

        // Server: one pull at a time, held while nothing new commits.
        if settings.sends {
            if serving == nil, !pulls.isEmpty {
                let pull = pulls.removeFirst()
                serving = pull
                servingCursor = pull.cursor
                echoDeadline = nil
                readFeed(&out)
            } else if holding, let pull = serving {
                if let at = relayAt {
                    if now >= at { readFeed(&out) } else { wakeAt(at) }
                } else if highestSeq > servingCursor {
                    readFeed(&out)
                } else if let deadline = echoDeadline {
                    if now >= deadline {
                        send(.batch(.init(changes: [], cursor: servingCursor, hasMore: false, highestSeq: highestSeq, tabled: settings.tabled)), &out)
                        serving = nil
                        holding = false
                        echoDeadline = nil
                        relayWaited = false
                        _ = pull
                    } else {
                        wakeAt(deadline)
                    }
                }
            }

            // Repairs: page by page while the outbox has room, at most
            // `repairsPerMinute` a minute. A request waiting for the minute
            // is out of the queue, so the peer may still have four waiting.
            if repairing == nil, delayedRepair != nil || !repairs.isEmpty {
                let next = delayedRepair ?? repairs.removeFirst()
                repairsServed.removeAll { now - $0 > 60_000 }
                if repairsServed.count >= Self.repairsPerMinute, let oldest = repairsServed.first {
                    delayedRepair = next
                    if !repairDelayReported {
                        repairDelayReported = true
                        out.actions.append(.report(.repairDelayed))
                    }
                    wakeAt(oldest + 60_001)
                } else {
                    delayedRepair = nil
                    repairDelayReported = false
                    repairsServed.append(now)
                    repairing = (next, 0, 0)
                }
            }
            if let current = repairing, !repairReading, queued < Self.repairRoom {
                repairReading = true
                out.actions.append(.readRepairPage(buckets: current.buckets, after: current.after, maxCount: max(1, settings.batchMaxSlots),
                                                   maxBytes: settings.batchBytes))
            }
        }

        // Puller, 1.6: tell the peer what we hold once a gathering moment has passed.
        if let wanted = knowledgeWanted, !knowledgeReading {
            if now >= wanted {
                knowledgeWanted = nil
                knowledgeReading = true
                out.actions.append(.readKnowledge)
            } else {
                wakeAt(wanted)
            }
        }

        // Digest checks: both ways only, once caught up, every interval or on request.
        if settings.sends && settings.receives {
            switch digest {
            case .idle:
                let due = now >= nextCheck
                // No new check while our repair request is unanswered: the peer
                // serves a few a minute and keeps at most four waiting, so
                // asking at every interval could get an honest puller cut off.
                if (due || syncRequested) && caughtUp && !repairAsked {
                    syncRequested = false
                    nextCheck = now + settings.digestIntervalMillis
                    digest = .readingAsked
                    out.actions.append(.readHighestSeq)
                } else if !due {
                    wakeAt(nextCheck)
                }
            case .awaiting(let asked):
                if !reports.isEmpty {
                    pendingReport = reports.removeFirst()
                    digest = .readingLocal(asked: asked)
                    out.actions.append(.readDigestPoint(forAnswer: false))
                }
            case .readingAsked, .readingLocal:
                break
            }
        }

        if queued > Self.outboxLimit { out.failure = out.failure ?? .notReading(queued: queued) }
        if let wake { out.actions.append(.wake(at: wake)) }
    }

    private var repairDelayReported = false
    private var delayedRepair: [UInt8]?
    /// We asked the peer for a repair and its last page has not been merged.
    private var repairAsked = false

    private mutating func send(_ message: SyncMessage, _ out: inout Output) {
        queued += 1
        out.actions.append(.send(message))
    }

    private mutating func fail(_ error: SessionError, _ out: inout Output) {
        if out.failure == nil { out.failure = error }
    }
}
