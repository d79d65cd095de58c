import Foundation
import Logging
import SyncCore

/// One simulated world: replicas with real stores, links running
/// `SessionMachine`s over a simulated network, and one scheduler in virtual
/// time. Everything random is drawn from the seed, in one thread, so a seed
/// replays exactly.
final class World {
    enum Event {
        case chaos
        case connect(link: Int)
        case deliver(link: Int, to: Int, generation: UInt64, message: SyncMessage)
        /// Store work done; `epoch` is the replica's store it was asked of.
        case complete(link: Int, side: Int, generation: UInt64, epoch: Int, action: SessionMachine.Action)
        case written(link: Int, side: Int, generation: UInt64)
        case tick(link: Int, side: Int, generation: UInt64)
        case restart(replica: Int)
        /// A fold of the databases kept aside that a full disk stopped is
        /// tried again (`KeptAsideRetry`), unless the replica crashed since.
        case retryFold(replica: Int, epoch: Int)
        case heal
        case check
    }

    let options: SimulationOptions
    let directory: URL
    var rng: SeededRandom
    let clock = WorldClock()
    var queue = EventQueue<Event>()
    var replicas: [SimReplica] = []
    var links: [SimLink] = []
    var oracle = WriteOracle()
    /// Snapshots taken so far, and whose.
    var snapshots: [(url: URL, of: Int)] = []
    /// The replica id of the legacy copy that issues dots twice, and its counter.
    var legacyReplica: ReplicaID?
    var legacyCounter: UInt64 = 0
    /// The analyst's own column (`AnalystCells`): its own generator, the
    /// last value written, and the cells to find, by replica and record id.
    var analystRng: SeededRandom
    /// The full-disk fault's own generator (`FullDisk`).
    var diskRng: SeededRandom
    var analystValue: Int64 = 0
    var analystCells: [Int: Set<AnalystCell>] = [:]
    var analystRows: [Int: Set<Int64>] = [:]
    var result: SimulationResult
    var now: UInt64 { clock.now }
    var healed = false
    var healedAt: UInt64 = 0
    var convergedAt: UInt64?
    /// Slots sent once the network should be quiet (echoes).
    var lateChanges = 0
    /// When the network should be quiet: the digests are equal, every link
    /// is up, and every side that pulls has caught up with its peer's feed
    /// (equal digests do not mean drained feeds: a peer's new replica id,
    /// after a restore, is re-read from seq 0). From then on no slot may be
    /// sent and nothing may commit; `seqs` are the replicas' highest seqs then.
    var quietBaseline: (since: UInt64, seqs: [UInt64?])?

    static let settings = (batchMaxSlots: 16, batchMaxBytes: 64 << 10, maxFrameBytes: 9 << 20, digestIntervalMillis: UInt64(10_000),
                           keepaliveMillis: UInt64(5_000))

    init(options: SimulationOptions, directory: URL) {
        self.options = options
        self.directory = directory
        rng = SeededRandom(seed: options.seed)
        analystRng = SeededRandom(seed: options.seed ^ 0x616E_616C_7973_7473)
        diskRng = SeededRandom(seed: options.seed ^ 0x6469_736B_2066_756C)
        result = SimulationResult(seed: options.seed)
    }

    func note(_ text: @autoclosure () -> String) {
        if options.trace { result.trace.append("\(String(format: "%8.3f", Double(now) / 1_000)) \(text())") }
    }

    func violation(_ text: String) {
        note("VIOLATION \(text)")
        result.violations.append("t=\(now) ms: \(text)")
    }

    // MARK: - Setup and run

    func run() -> SimulationResult {
        let count = rng.int(options.replicas)
        for index in 0..<count {
            let spki = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let replica = SimReplica(index: index, device: DeviceID(spki: spki), directory: directory.appendingPathComponent("r\(index)"),
                                     random: rng.split(), world: clock)
            do { try replica.open() } catch {
                violation("cannot open \(replica.name): \(error)")
                return result
            }
            replicas.append(replica)
        }
        // A random spanning tree (both ways), then a few more links, some one-way.
        for index in 1..<count {
            addLink(rng.int(0...(index - 1)), index, modes: [.sendReceive, .sendReceive], essential: true)
        }
        for _ in 0..<rng.int(0...count) {
            let a = rng.int(0...(count - 1)), b = rng.int(0...(count - 1))
            guard a != b, !links.contains(where: { Set($0.ends) == Set([a, b]) }) else { continue }
            let modes: [[PeerMode]] = [[.sendReceive, .sendReceive], [.sendOnly, .receiveOnly], [.receiveOnly, .sendOnly]]
            addLink(a, b, modes: rng.pick(modes), essential: false)
        }
        note("replicas \(count), links " + links.map { "\($0.ends[0])-\($0.ends[1])(\($0.modes[0].rawValue))" }.joined(separator: " "))
        for link in links { schedule(.connect(link: link.index), in: rng.millis(0...500)) }
        schedule(.chaos, in: rng.millis(50...400))
        schedule(.heal, in: options.chaosMillis)

        let end = options.chaosMillis + options.healLimitMillis + options.quietMillis
        while let (time, event) = queue.pop() {
            guard time <= end else { break }
            clock.set(time)
            handle(event)
            // Store work happens only at these (a delivery or a tick only
            // feeds the machines, which schedule it).
            switch event {
            case .deliver, .tick, .written: break
            default: checkAnalystCells()
            }
            guard convergedAt != nil else { continue }
            if quietBaseline == nil, links.allSatisfy(drained) {
                quietBaseline = (now, replicas.map { (try? $0.store?.highestSeq()) ?? nil })
                note("every link caught up: quiet from now")
            }
            if let quiet = quietBaseline, now >= quiet.since + options.quietMillis { break }
        }
        finish()
        return result
    }

    func schedule(_ event: Event, in delay: UInt64) { queue.schedule(event, at: now + delay) }

    func addLink(_ a: Int, _ b: Int, modes: [PeerMode], essential: Bool) {
        links.append(SimLink(index: links.count, ends: [a, b], modes: modes, essential: essential))
    }

    // MARK: - Events

    func handle(_ event: Event) {
        switch event {
        case .chaos:
            guard !healed else { return }
            if let limit = options.maxChaosSteps, result.chaosSteps >= limit { return }
            result.chaosSteps += 1
            maybeAnalystCell()
            maybeFillDisk()
            chaosStep()
            schedule(.chaos, in: rng.millis(20...600))
        case .connect(let index):
            connect(links[index])
        case .deliver(let index, let side, let generation, let message):
            let link = links[index]
            guard link.generation == generation, link.isUp else { return }
            link.inbox[side].append(message)
            pump(link, side)
        case .complete(let index, let side, let generation, let epoch, let action):
            let link = links[index]
            let replica = replicas[link.ends[side]]
            guard replica.epoch == epoch else { return }  // the store crashed since: the work never happened
            if link.generation == generation, link.isUp {
                complete(link, side, action)
            } else if case .merge(let changes, let cursor, let peerHighest, let given) = action, let store = replica.store, let peer = link.peerReplica(at: generation, side) {
                let claims = lies(added: given, by: link.ends[1 - side], to: link.ends[side])
                let changes = lyingOrigins(changes, cursor: cursor, by: link.ends[1 - side], to: link.ends[side])
                // The connection is gone but the merge was under way: the
                // driver lets it finish (its cursor may land after a newer
                // session's), as `PeerSession` awaits its store work.
                do {
                    try merge(changes, cursor: cursor, peerHighest: peerHighest, claims: claims, from: peer, device: replicas[link.ends[1 - side]].device,
                              into: store, of: replica)
                } catch where isFullDisk(error, replica) {
                    count("disk full: batch refused")
                } catch {
                    violation("\(replica.name): a merge of a closed connection failed: \(error)")
                }
            }
        case .written(let index, let side, let generation):
            let link = links[index]
            guard link.generation == generation, link.isUp else { return }
            feed(link, side, .written)
        case .tick(let index, let side, let generation):
            let link = links[index]
            guard link.generation == generation, link.isUp else { return }
            if let wake = link.wake[side], wake <= now { link.wake[side] = nil }
            feed(link, side, .tick)
        case .restart(let index):
            let replica = replicas[index]
            guard !replica.isUp else { return }  // the heal reopened it first
            do { try replica.open() } catch { violation("\(replica.name) does not reopen after a crash: \(error)") }
            note("\(replica.name) restarted")
            for link in links where link.ends.contains(index) { scheduleConnect(link) }
        case .retryFold(let index, let epoch):
            let replica = replicas[index]
            guard replica.epoch == epoch, replica.foldRetryDue == now, let store = replica.store else { return }
            replica.foldRetryDue = nil
            mergeKeptAside(replica, store: store, only: replica.foldRetry.names)
        case .heal:
            heal()
        case .check:
            checkConvergence()
        }
    }

    /// Reads what waits for side `side`, while its machine reads.
    func pump(_ link: SimLink, _ side: Int) {
        while let machine = link.machines[side], machine.readsInbound, !link.inbox[side].isEmpty {
            let message = link.inbox[side].removeFirst()
            feed(link, side, .received(message))
        }
    }

    /// One event into one machine, and its actions carried out.
    func feed(_ link: SimLink, _ side: Int, _ event: SessionMachine.Event) {
        guard var machine = link.machines[side] else { return }
        let actions = machine.handle(event, at: now)
        link.machines[side] = machine
        let generation = link.generation
        for action in actions {
            guard link.generation == generation else { return }
            carryOut(action, link, side)
        }
        if link.generation == generation, case .received = event {} else if link.generation == generation { pump(link, side) }
    }

    func carryOut(_ action: SessionMachine.Action, _ link: SimLink, _ side: Int) {
        switch action {
        case .send(let message):
            result.messages += 1
            let to = 1 - side
            // Modes, checked outside the machines that enforce them: slots
            // go only from a side that sends to one that receives.
            let slots = Self.slots(in: message)
            // With a liar, a repair its lies made necessary may still be on
            // its way when the replicas converge: only feed traffic counts.
            let repairByLie: Bool = if options.liar, case .repairBatch = message { true } else { false }
            if slots > 0, !repairByLie, let quiet = quietBaseline, now >= quiet.since {
                lateChanges += slots
                note("late \(message.kind) of \(slots) slot(s) to r\(link.ends[to]) on link \(link.index)")
            }
            if slots > 0 && !(link.modes[side].sends && link.modes[to].receives) {
                violation("r\(link.ends[side]) sent \(slots) slot(s) to r\(link.ends[to]) on link \(link.index) against the modes \(link.modes.map(\.rawValue))")
            }
            switch message {
            case .pull:
                // One pull outstanding at a time (docs/protocol.md).
                link.pullsUnanswered[side] += 1
                if link.pullsUnanswered[side] > 1 { violation("r\(link.ends[side]) has \(link.pullsUnanswered[side]) pulls unanswered on link \(link.index)") }
            case .batch:
                link.pullsUnanswered[to] -= 1
                // A batch counts from its sending until the puller has merged
                // it (or found nothing to merge): the one being merged plus
                // the answer to the one pull asked meanwhile.
                link.batchesUnfinished[to] += 1
                if link.batchesUnfinished[to] > 2 {
                    violation("\(link.batchesUnfinished[to]) batches sent toward r\(link.ends[to]) and not yet merged on link \(link.index)")
                }
            default:
                break
            }
            let at = max(now + rng.millis(1...120), link.lastDelivery[to])
            link.lastDelivery[to] = at
            queue.schedule(.deliver(link: link.index, to: to, generation: link.generation, message: message), at: at)
            queue.schedule(.written(link: link.index, side: side, generation: link.generation), at: now + rng.millis(0...5))
        case .wake(let at):
            if let current = link.wake[side], current > now, current <= at { return }
            link.wake[side] = at
            queue.schedule(.tick(link: link.index, side: side, generation: link.generation), at: max(at, now))
        case .close(let error):
            note("link \(link.index) side \(side) closes: \(error)")
            if case .protocolViolation = error { violation("honest peers broke the protocol on link \(link.index): \(error)") }
            else if healed { violation("link \(link.index) closed after the heal: \(error)") }
            drop(link, reason: "\(error)")
        case .report(.pulled):
            link.batchesUnfinished[side] -= 1
        case .report(let report):
            // Among honest peers the feed alone must converge: a mismatch the
            // digest check finds after catching up is a feed bug that repair hides.
            if case .digestMismatch(let buckets) = report, !options.liar {
                violation("r\(link.ends[side]) found \(buckets) digest bucket(s) differing from r\(link.ends[1 - side]) after catching up")
            }
        default:
            // Store work: done when it completes, so a crash before then loses
            // it. Now and then the disk stalls (a checkpoint, a slow fsync):
            // the connection may drop and a new one start meanwhile.
            let delay = rng.chance(0.02) ? rng.millis(300...4_000) : rng.millis(0...8)
            queue.schedule(.complete(link: link.index, side: side, generation: link.generation, epoch: replicas[link.ends[side]].epoch, action: action),
                           at: now + delay)
        }
    }

    /// Store work the machine asked for, done now against the real store.
    func complete(_ link: SimLink, _ side: Int, _ action: SessionMachine.Action) {
        let replica = replicas[link.ends[side]]
        guard let store = replica.store, let peer = link.peerReplica[side] else { return }
        let peerDevice = replicas[link.ends[1 - side]].device
        do {
            switch action {
            case .loadCursor:
                feed(link, side, .cursorLoaded(try store.cursor(for: peer)))
            case .merge(let changes, let cursor, let peerHighest, let given):
                let claims = lies(added: given, by: link.ends[1 - side], to: link.ends[side])
                let changes = lyingOrigins(changes, cursor: cursor, by: link.ends[1 - side], to: link.ends[side])
                let changed = try merge(changes, cursor: cursor, peerHighest: peerHighest, claims: claims, from: peer, device: peerDevice,
                                        into: store, of: replica)
                feed(link, side, .merged(changed: changed, repair: cursor == nil))
            case .readFeed(let since, let maxCount, let maxBytes, let knowledge):
                let batch = try store.changes(since: since, maxCount: maxCount, maxBytes: maxBytes, for: peer, knowledge: knowledge)
                if batch.held > 0 {
                    result.slotsHeld += batch.held
                    if !options.liar { checkHeld(by: replicas[link.ends[1 - side]], from: store, of: replica, since: since, maxCount: maxCount, maxBytes: maxBytes,
                              peer: peer, knowledge: knowledge ?? [:]) }
                }
                feed(link, side, .feedRead(changes: batch.changes, cursor: batch.cursor, hasMore: batch.hasMore, highest: batch.highest,
                                           knowledge: knowledge == nil ? nil : batch.knowledge, relayedOnly: batch.relayedOnly))
            case .readKnowledge:
                feed(link, side, .knowledgeRead(lyingWords(try store.knowledgeInOrder(), by: link.ends[side], to: link.ends[1 - side])))
            case .readHighestSeq:
                feed(link, side, .highestSeqRead(try store.highestSeq()))
            case .readDigestPoint(let forAnswer):
                feed(link, side, .digestPointRead(try store.digestPoint(peer: peer), forAnswer: forAnswer))
            case .readRepairPage(let buckets, let after, let maxCount, let maxBytes):
                let page = try store.slots(inBuckets: buckets, afterRecord: after, maxCount: maxCount, maxBytes: maxBytes)
                feed(link, side, .repairPageRead(changes: page.changes, next: page.next))
            case .mergeKeptAside:
                mergeKeptAside(replica, store: store)
            default:
                break
            }
        } catch where isFullDisk(error, replica) {
            // As the daemon does: the session ends, and the peer is dialled again.
            count("disk full: batch refused")
            drop(link, reason: "\(replica.name)'s disk is full")
        } catch {
            violation("\(replica.name): store work \(action) failed: \(error)")
            drop(link, reason: "\(error)")
        }
    }

    /// The claims a batch from `server` brings `puller`, with the liar's
    /// added (`SimulationOptions.liar`, replica 0) to every batch of a
    /// gossip session that may teach (one that reaches its highest seq):
    /// about a third replica, a seq just past its highest, far past it, or
    /// 2^63 - 1; one time in four also 64 made-up replica ids (to fill the
    /// knowledge table). Added at the merge, not on the wire: a word out of
    /// the connection's numbering would only close the connection.
    func lies(added claims: [KnowledgeEntry]?, by server: Int, to puller: Int) -> [KnowledgeEntry]? {
        guard options.liar, server == 0, var claims else { return claims }
        let thirds = replicas.filter { $0.index != server && $0.index != puller }
        guard !thirds.isEmpty else { return claims }
        let third = rng.pick(thirds)
        guard let replica = try? third.store?.replicaID else { return claims }
        let highest = (try? third.store?.highestSeq()) ?? 0
        let seq = rng.pick([highest + UInt64(rng.int(1...20)), highest + 10_000, UInt64(Int64.max)])
        claims.append(KnowledgeEntry(replica, seq))
        if rng.chance(0.25) {
            claims += (0..<64).map { _ in KnowledgeEntry(ReplicaID(high: rng.next(), low: rng.next()), UInt64(rng.int(1...1_000_000))) }
        }
        result.lies.claims += 1
        note("r\(server) tells r\(puller) it holds \(third.name) up to \(seq)")
        return claims
    }

    /// The liar's batches also carry false origins (`SimulationOptions.liar`):
    /// half the slots of every gossip batch from replica 0 say they came
    /// from another replica's feed (any but the puller's, the liar's own
    /// too) at a seq from 1 to that replica's highest, so a later puller
    /// whose word for that replica is past it is left without the state.
    /// Added at the merge, as the claims are, and only where origins travel
    /// (a feed batch, `cursor` set, of a session with gossip): a repair
    /// batch or a session without gossip carries none, and the puller's
    /// store would never see one there.
    func lyingOrigins(_ changes: [SlotChange], cursor: UInt64?, by server: Int, to puller: Int) -> [SlotChange] {
        guard options.liar, server == 0, cursor != nil, changes.contains(where: { $0.origin != nil }) else { return changes }
        let others = replicas.filter { $0.index != puller }
        var lied = 0
        let result = changes.map { change -> SlotChange in
            guard rng.chance(0.5), let other = rng.pick(others).store, let replica = try? other.replicaID else { return change }
            let highest = max(1, (try? other.highestSeq()) ?? 1)
            var told = change
            told.origin = FeedOrigin(replica: replica, seq: UInt64(rng.int(1...Int(clamping: highest))))
            lied += 1
            return told
        }
        if lied > 0 {
            self.result.lies.origins += 1
            note("r\(server) gives r\(puller) \(lied) false origin(s)")
        }
        return result
    }

    /// The liar, pulling, tells its servers it holds third replicas' feeds
    /// far past what it does (`SimulationOptions.liar`): each replica other
    /// than itself and the server it pulls from, with chance 1/2, gets a
    /// word 1 to 10,000 past its highest (or 2^63 - 1, one time in five),
    /// added to every knowledge read, so that server leaves out for it
    /// states it lacks; only digest repair then brings them. (A word about
    /// the server itself is ignored by the server, `GossipRules`, so it
    /// would be no lie that could cost anything.)
    func lyingWords(_ knowledge: [KnowledgeEntry], by reader: Int, to server: Int) -> [KnowledgeEntry] {
        guard options.liar, reader == 0 else { return knowledge }
        var words = knowledge
        var lied = false
        for other in replicas where other.index != reader && other.index != server {
            guard let store = other.store, let replica = try? store.replicaID, rng.chance(0.5) else { continue }
            let highest = (try? store.highestSeq()) ?? 0
            let seq = rng.chance(0.2) ? UInt64(Int64.max) : highest + UInt64(rng.int(1...10_000))
            words.removeAll { $0.replica == replica }
            words.append(KnowledgeEntry(replica, seq))
            lied = true
        }
        if lied {
            result.lies.words += 1
            note("r\(reader) tells its servers it holds more than it does")
        }
        return words
    }

    /// Gossip without duplicates never holds back a state the puller lacks
    /// (replication-model §4.7): every slot the feed left out of `batch`
    /// for knowledge (not an echo) changes nothing when merged into the
    /// puller's store as it is now (states only grow, so if it holds it now
    /// it held it when it made the claim). Compared as encoded bytes.
    func checkHeld(by puller: SimReplica, from store: Store, of replica: SimReplica, since: UInt64, maxCount: Int, maxBytes: Int,
                   peer: ReplicaID, knowledge: [ReplicaID: UInt64]) {
        guard let pullerStore = puller.store else { return }
        do {
            let listed = try store.changes(since: since, maxCount: maxCount, maxBytes: maxBytes, for: peer, knowledge: knowledge, listHeld: true)
            for change in listed.heldBack {
                let local = try pullerStore.slotState(change.key)
                if SlotStateCodec.encode(SlotMerge.merge(local, change.state)) != SlotStateCodec.encode(local) {
                    violation("\(replica.name) held back \(change.key) from \(puller.name) for knowledge, but \(puller.name) does not hold it")
                }
            }
        } catch {
            violation("checking what \(replica.name) held back from \(puller.name) failed: \(error)")
        }
    }

    /// A batch merged into `replica`'s store, checked: its cursor for the
    /// peer never goes back, and no honest replica's dot collides.
    @discardableResult
    func merge(_ changes: [SlotChange], cursor: UInt64?, peerHighest: UInt64? = nil, claims: [KnowledgeEntry]? = nil, from peer: ReplicaID, device: DeviceID,
               into store: Store, of replica: SimReplica) throws -> Int {
        let before = try store.cursor(for: peer)
        let unchanged = fingerprint(replica)
        let report: ApplyReport
        do {
            report = try store.apply(changes, from: peer, device: device.description, cursor: cursor, peerHighest: peerHighest, claims: claims,
                                     repair: cursor == nil)
        } catch where isFullDisk(error, replica) {
            checkUnchanged(replica, since: unchanged, what: "a batch")
            if try store.cursor(for: peer) != before { violation("\(replica.name): a batch a full disk failed moved its cursor for \(peer.short)") }
            throw error
        }
        let after = try store.cursor(for: peer)
        if after < before { violation("\(replica.name)'s cursor for \(peer.short) went back from \(before) to \(after)") }
        if report.dotCollisions > 0 {
            let honest = try store.dotCollisions().filter { $0.dot.replica != legacyReplica }
            if !honest.isEmpty { violation("\(replica.name) merged dot collisions of honest replicas: \(honest.map(\.dot))") }
        }
        committed(replica)
        return report.changed
    }

    /// A link is drained when it is up and each side that pulls has merged
    /// the other's feed to its highest seq (read from the stores: a puller's
    /// last "caught up" can be stale while the other side reads its feed).
    func drained(_ link: SimLink) -> Bool {
        guard link.isUp else { return false }
        return (0...1).allSatisfy { side in
            guard link.receives[side] else { return true }
            guard let store = replicas[link.ends[side]].store, let peer = link.peerReplica[side],
                  let theirs = try? replicas[link.ends[1 - side]].store?.highestSeq(),
                  let cursor = try? store.cursor(for: peer) else { return false }
            return cursor >= theirs
        }
    }

    /// Slots a message carries.
    static func slots(in message: SyncMessage) -> Int {
        switch message {
        case .batch(let batch): batch.changes.count
        case .repairBatch(let changes, _): changes.count
        default: 0
        }
    }

    /// A sync succeeded: the database a restore kept aside is merged back and
    /// removed, as `PeerSession` does (`only`: a retry's names; nil, those
    /// kept aside now, which the sync cleared). One that stays is a violation.
    func mergeKeptAside(_ replica: SimReplica, store: Store, only: Set<String>? = nil) {
        let batch = only ?? Set(keptAside(replica))
        guard !batch.isEmpty else { return }
        let left = { Set(self.keptAside(replica)).intersection(batch).sorted() }
        var logger = Logger(label: "sim")
        logger.logLevel = .critical
        let fold = Snapshots.mergeAndRemoveKeptAside(into: store, logger: logger, only: batch)
        // On a full disk it stays, to be merged once there is room (the
        // merge only adds to states: a part merged is no harm): the daemon
        // tries again on `KeptAsideRetry`'s schedule, without waiting for
        // the next session (`KeptAsideFolds`).
        let delay = replica.foldRetry.after(fold, of: batch)
        replica.foldRetryDue = delay.map { now + $0 }
        if let delay { schedule(.retryFold(replica: replica.index, epoch: replica.epoch), in: delay) }
        if !left().isEmpty, replica.diskFull {
            count("disk full: write refused")
            if fold.stoppedByPassingFailure.isEmpty {
                violation("\(replica.name): a fold of the database kept aside that its full disk stopped is not tried again before the next session (\(fold))")
            }
            return note("\(replica.name) keeps the database its restore kept aside: its disk is full; tried again in \(replica.foldRetryDue.map { $0 - now } ?? 0) ms")
        }
        if !left().isEmpty { violation("\(replica.name) could not merge the database kept aside: \(left())") }
        note("\(replica.name) merged the database its restore kept aside")
        committed(replica)
    }

    /// The databases a restore of `replica` keeps aside.
    func keptAside(_ replica: SimReplica) -> [String] {
        Snapshots.keptAside(in: replica.directory)
    }

    /// Something committed on `replica`: every session of it hears.
    func committed(_ replica: SimReplica) {
        guard let store = replica.store, let highest = try? store.highestSeq() else { return }
        for link in links where link.isUp {
            guard let side = link.side(of: replica.index) else { continue }
            feed(link, side, .committed(highestSeq: highest))
        }
    }

    // MARK: - Connections

    func scheduleConnect(_ link: SimLink) {
        guard !link.connecting, !link.isUp else { return }
        link.connecting = true
        queue.schedule(.connect(link: link.index), at: max(now + rng.millis(200...2_000), link.cutUntil))
    }

    /// The hellos and replica proofs, checked on both sides by the same
    /// rules as `SyncNode`; then a machine each.
    func connect(_ link: SimLink) {
        link.connecting = false
        guard !link.isUp else { return }
        guard now >= link.cutUntil else { return scheduleConnect(link) }
        let ends = link.ends.map { replicas[$0] }
        guard let storeA = ends[0].store, let storeB = ends[1].store else { return }
        do {
            let identities = [try storeA.replicaIdentity(), try storeB.replicaIdentity()]
            let stores = [storeA, storeB]
            var hellos: [SyncMessage.Hello] = []
            for side in 0...1 {
                var hello = SyncMessage.Hello(replica: identities[side].replica, deviceName: ends[side].name, schemaHash: stores[side].schema.hash,
                                              willSend: link.modes[side].sends, willReceive: link.modes[side].receives,
                                              highestSeq: try stores[side].highestSeq(), lineage: stores[side].seed.name)
                hello.origin = try stores[side].joinOrigin()
                hellos.append(hello)
            }
            for side in 0...1 {
                let theirs = hellos[1 - side]
                switch HelloRules.admit(theirs, ownReplica: identities[side].replica, proofNonce: identities[1 - side].nonce, device: ends[1 - side].device,
                                        lineage: stores[side].seed.name) {
                case .refuse(let reason, _), .otherDataset(let reason, _):
                    return refuse(link, side, reason)
                case .bind(let proven):
                    let binding = try stores[side].bindPeer(replica: theirs.replica, device: ends[1 - side].device.description, proven: proven)
                    switch HelloRules.verdict(on: binding, replica: theirs.replica, device: ends[1 - side].device) {
                    case .accept: break
                    case .refuse(let reason): return refuse(link, side, reason)
                    case .acceptTakingBack(let previous):
                        // Among honest devices no id is ever squatted.
                        violation("r\(link.ends[side]) took \(theirs.replica.short) back from \(previous): an honest id was bound to another device")
                    }
                }
            }
            // A peer that joined by snapshot: read it from where its origin was read (as SyncNode does).
            for side in 0...1 {
                if let origin = hellos[1 - side].origin, let start = try stores[side].startCursor(for: hellos[1 - side].replica, joinedFrom: origin) {
                    note("r\(link.ends[side]) starts reading \(hellos[1 - side].replica.short) at \(start): it joined by a snapshot of \(origin.replica.short) at \(origin.seq)")
                }
            }
            link.generation += 1
            for side in 0...1 {
                let theirs = hellos[1 - side]
                link.peerReplica[side] = theirs.replica
                let ways = SessionMachine.Settings.directions(mode: link.modes[side], theirs: theirs)
                link.receives[side] = ways.receives
                var settings = SessionMachine.Settings(
                    sends: ways.sends, receives: ways.receives, tabled: ways.tabled, batchMaxSlots: Self.settings.batchMaxSlots, batchMaxBytes: Self.settings.batchMaxBytes,
                    maxFrameBytes: Self.settings.maxFrameBytes, digestIntervalMillis: Self.settings.digestIntervalMillis,
                    keepaliveMillis: Self.settings.keepaliveMillis)
                settings.gossip = theirs.protocolMinor >= SyncMessage.originsMinor && ways.sends && ways.receives
                link.machines[side] = SessionMachine(settings: settings, now: now)
            }
            link.peersByGeneration[link.generation] = link.peerReplica
            note("link \(link.index) up: r\(link.ends[0]) \(identities[0].replica.short) ⇄ r\(link.ends[1]) \(identities[1].replica.short)")
            for side in 0...1 { feed(link, side, .start(highestSeq: try stores[side].highestSeq())) }
        } catch {
            violation("connecting link \(link.index) failed: \(error)")
        }
    }

    func refuse(_ link: SimLink, _ side: Int, _ reason: String) {
        result.refusals += 1
        note("link \(link.index): r\(link.ends[side]) refuses: \(reason)")
        violation("r\(link.ends[side]) refused an honest peer: \(reason)")
        scheduleConnect(link)
    }

    func drop(_ link: SimLink, reason: String) {
        guard link.isUp else { return }
        result.drops += 1
        note("link \(link.index) down: \(reason)")
        link.drop()
        scheduleConnect(link)
    }
}
