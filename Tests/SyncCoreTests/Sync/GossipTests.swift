import Foundation
import GRDB
import PropertyBased
import Testing
@testable import SyncCore
import TestSupport

/// Gossip without duplicates (replication-model §4.7): a feed leaves out
/// what the puller said it holds, and never anything it does not hold.
@Suite("Gossip without duplicates", .serialized, .timeLimit(.minutes(3)))
struct GossipTests {
    static func ref(_ id: String) -> RecordRef { RecordRef(collection: "agreements", id: id) }

    /// One pull as a 1.6 session makes it: the puller's knowledge goes with
    /// the pull, the batch's origins and knowledge come back and are merged
    /// with the cursor. Returns what the feed held back (listed, to check).
    @discardableResult
    static func gossipPull(into target: Store, from source: Store, batchSize: Int = 7) throws -> (sent: Int, held: [SlotChange]) {
        var sent = 0
        var held: [SlotChange] = []
        while true {
            let cursor = try target.cursor(for: source.replicaID)
            let batch = try source.changes(since: cursor, maxCount: batchSize, maxBytes: 1 << 20, for: target.replicaID,
                                           knowledge: try target.knowledge(), listHeld: true)
            if batch.cursor == cursor { return (sent, held) }
            sent += batch.changes.count
            held += batch.heldBack
            let complete = !batch.hasMore && batch.cursor >= batch.highest
            try target.apply(batch.changes, from: source.replicaID, cursor: batch.cursor, peerHighest: batch.highest,
                             claims: complete ? batch.knowledge : nil)
            if !batch.hasMore { return (sent, held) }
        }
    }

    static func write(_ store: Store, _ id: String, _ title: String) throws {
        if try store.record(ref(id)) == nil {
            _ = try store.create(ref(id), [.set("title", .text(title))], author: "t")
        } else {
            _ = try store.update(ref(id), [.set("title", .text(title))], author: "t")
        }
    }

    /// Whether merging `change` into `store` would change nothing (compared as bytes).
    static func holds(_ store: Store, _ change: SlotChange) throws -> Bool {
        let local = try store.slotState(change.key)
        return SlotStateCodec.encode(SlotMerge.merge(local, change.state)) == SlotStateCodec.encode(local)
    }

    /// a's writes reach b and d directly; c pulls them from b, then from d:
    /// d relays nothing c already had (c learned from b that it holds a's
    /// feed), yet c's cursor for d moves to d's end and the digests are
    /// equal. A writer's own states always go to its direct pullers (their
    /// word about the writer itself is not taken).
    @Test func aChangeThatCameByAnotherPathIsNotSentAgain() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db"), c = try dir.store("c.db"), d = try dir.store("d.db")
        for index in 0..<20 { try Self.write(a, "r\(index)", "title \(index)") }
        try Self.gossipPull(into: b, from: a)
        try Self.gossipPull(into: d, from: a)
        let throughB = try Self.gossipPull(into: c, from: b)
        #expect(throughB.sent > 0)
        let relayed = try Self.gossipPull(into: c, from: d)
        #expect(relayed.sent == 0, "d sent c \(relayed.sent) slots it already had from b")
        #expect(relayed.held.count == throughB.sent)
        #expect(try c.cursor(for: d.replicaID) == d.highestSeq())
        #expect(try Set([a, b, c, d].map { try $0.digest().hex }).count == 1)
        // a's own writes go to c directly even though c says it holds a's feed.
        #expect(try Self.gossipPull(into: c, from: a).sent == throughB.sent)
        // A change a makes after that is relayed by d to c.
        try Self.write(a, "r3", "changed")
        try Self.gossipPull(into: d, from: a)
        #expect(try Self.gossipPull(into: c, from: d).sent > 0)
        #expect(try a.digest().hex == c.digest().hex)
    }

    /// A state b merged into something new is b's, not a's: c, which read a
    /// but not b, still gets it from b.
    @Test func aMergedStateIsTheMergersOwn() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db"), c = try dir.store("c.db")
        try Self.write(a, "r1", "from a")
        try Self.gossipPull(into: b, from: a)
        try Self.write(b, "r1", "from b")  // b's own write over a's
        try Self.gossipPull(into: c, from: a)
        let fromB = try Self.gossipPull(into: c, from: b)
        #expect(fromB.sent > 0)
        #expect(try b.digest().hex == c.digest().hex)
    }

    /// Random writes on four stores and random 1.6 pulls between them:
    /// every slot a feed holds back merges to nothing at the puller (it
    /// holds it), and after a final round of pulls all digests are equal.
    /// Titles include look-alikes (NFC and NFD), so equal-looking states
    /// from two writers are two states.
    @Test func nothingHeldBackIsMissing() async throws {
        let titles = ["Caf\u{E9}", "Cafe\u{301}", "x", "x ", ""]
        await propertyCheck(count: 25, input: Gen.int(in: 0...Int(UInt32.max)), Gen.int(in: 20...80)) { seed, length in
            var random = UInt64(seed) &+ 1
            func next() -> Int {
                random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Int(random >> 33)
            }
            let dir = TemporaryDirectory()
            let stores = try (0..<4).map { try dir.store("s\($0).db") }
            var heldTotal = 0
            for _ in 0..<length {
                let number = next()
                let from = number % 4, to = (number / 4) % 4
                if number / 16 % 3 == 0 || from == to {
                    try Self.write(stores[from], "r\(number / 64 % 5)", titles[number / 512 % titles.count])
                } else {
                    let result = try Self.gossipPull(into: stores[to], from: stores[from], batchSize: 1 + number / 1024 % 6)
                    heldTotal += result.held.count
                    for change in result.held {
                        #expect(try Self.holds(stores[to], change), "s\(from) held back \(change.key) from s\(to), which does not hold it")
                    }
                }
            }
            for _ in 0..<2 {
                for to in 0..<4 {
                    for from in 0..<4 where from != to {
                        for change in try Self.gossipPull(into: stores[to], from: stores[from]).held {
                            #expect(try Self.holds(stores[to], change))
                        }
                    }
                }
            }
            let digests = Set(try stores.map { try $0.digest().hex })
            #expect(digests.count == 1, "seed \(seed): digests differ after every pull")
            _ = heldTotal
        }
    }

    /// Knowledge is kept only from a batch that reaches the peer's highest
    /// seq, never about ourselves, and never lowered.
    @Test func knowledgeIsLearnedOnlyFromACompleteRead() throws {
        let own = replica(1), peer = replica(2), third = replica(3)
        #expect(GossipRules.learned(peer: peer, cursor: 9, peerHighest: 10, claims: [KnowledgeEntry(third, 5)], own: own) == nil)
        let learned = GossipRules.learned(peer: peer, cursor: 10, peerHighest: 10,
                                          claims: [KnowledgeEntry(third, 5), KnowledgeEntry(own, 99), KnowledgeEntry(peer, 99)], own: own)
        #expect(learned == GossipRules.Lesson(direct: KnowledgeEntry(peer, 10), claims: [KnowledgeEntry(third, 5)]))

        let dir = TemporaryDirectory()
        let store = try dir.store("k.db")
        try store.withWriteTransaction { db in
            try Store.learn([KnowledgeEntry(third, 8)], in: db)
            try Store.learn([KnowledgeEntry(third, 5)], in: db)
        }
        #expect(try store.knowledge()[third] == 8)
        try store.forgetKnowledge()
        #expect(try store.knowledge()[third] == nil)
    }

    /// A false claim about a replica (one of 2^63 - 1, or one left from
    /// before its feed went back) lasts only until this replica reads that
    /// replica's feed itself: its own highest seq replaces what was held.
    @Test func aPeersOwnWordReplacesAClaimAboutIt() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("k.db")
        let peer = replica(2), liar = replica(3)
        try store.withWriteTransaction { db in
            try Store.learn(GossipRules.Lesson(direct: KnowledgeEntry(liar, 4), claims: [KnowledgeEntry(peer, UInt64(Int64.max))]), in: db)
        }
        #expect(try store.knowledge()[peer] == UInt64(Int64.max))
        try store.withWriteTransaction { db in try Store.learn(GossipRules.Lesson(direct: KnowledgeEntry(peer, 12), claims: []), in: db) }
        #expect(try store.knowledge()[peer] == 12)
        try store.withWriteTransaction { db in try Store.learn(GossipRules.Lesson(direct: KnowledgeEntry(peer, 15), claims: []), in: db) }
        #expect(try store.knowledge()[peer] == 15)
    }

    /// A read older than one already merged (a closed connection's merge
    /// finishing after the next session's) does not lower what the newer
    /// one taught; the replicas this one pulls from are told first.
    @Test func aStaleReadDoesNotLowerAndOwnPeersComeFirst() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try Self.write(a, "r1", "x")
        try Self.write(a, "r2", "y")
        let peer = try a.replicaID
        let all = try a.changes(since: 0, maxCount: 1_000, maxBytes: 1 << 20)
        try b.apply(all.changes, from: peer, cursor: all.cursor, peerHighest: all.highest, claims: [KnowledgeEntry(replica(1), 3)])
        #expect(try b.knowledge()[peer] == all.highest)
        let first = try a.changes(since: 0, maxCount: 1, maxBytes: 1 << 20)
        try b.apply(first.changes, from: peer, cursor: first.cursor, peerHighest: first.cursor, claims: [])
        #expect(try b.knowledge()[peer] == all.highest)
        // (a random id sorts after replica(1): only the cursor rule puts it first)
        #expect(replica(1) < peer)
        #expect(try b.knowledgeInOrder().first?.replica == peer)
    }

    /// Made-up claims fill at most the rows not kept for direct entries:
    /// what a replica learns from its own peers still fits.
    @Test func madeUpClaimsCannotCrowdOutDirectKnowledge() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("k.db")
        let claims = (0..<GossipRules.maxKnowledgeRows).map { KnowledgeEntry(replica(1_000 + $0), 7) }
        try store.withWriteTransaction { db in
            for chunk in stride(from: 0, to: claims.count, by: GossipRules.maxKnowledgeEntries) {
                try Store.learn(GossipRules.Lesson(direct: KnowledgeEntry(replica(2), 3), claims: Array(claims[chunk..<min(chunk + GossipRules.maxKnowledgeEntries, claims.count)])), in: db)
            }
        }
        #expect(try store.knowledge().count == GossipRules.maxKnowledgeRows - GossipRules.directReserve)
        let peers = (0..<GossipRules.directReserve).map { replica(100_000 + $0) }
        try store.withWriteTransaction { db in
            for peer in peers { try Store.learn(GossipRules.Lesson(direct: KnowledgeEntry(peer, 9), claims: []), in: db) }
        }
        let known = try store.knowledge()
        #expect(known.count == GossipRules.maxKnowledgeRows)
        #expect(peers.allSatisfy { known[$0] == 9 })
    }

    /// What a puller tells: only what changed, 0 for what it dropped; what a
    /// server keeps of it is bounded.
    @Test func knowledgeMessagesCarryChangesAndAreBounded() {
        let told: [ReplicaID: UInt64] = [replica(1): 5, replica(2): 7]
        let now = [KnowledgeEntry(replica(1), 5), KnowledgeEntry(replica(2), 9), KnowledgeEntry(replica(3), 1)]
        let entries = GossipRules.changes(from: told, to: now)
        #expect(entries == [KnowledgeEntry(replica(2), 9), KnowledgeEntry(replica(3), 1)])
        #expect(GossipRules.changes(from: [replica(1): 5, replica(2): 9], to: []).allSatisfy { $0.seq == 0 })
        // More than fit: what is taken back goes first, then words about
        // replicas already told, then replicas numbered on the connection,
        // then new ones in the order given (own peers first): made-up ids
        // sorting before them wait.
        let peer = replica(700_000), numbered = replica(800_000)
        var many = [KnowledgeEntry(peer, 6), KnowledgeEntry(replica(500_000), 2), KnowledgeEntry(replica(500_001), 3), KnowledgeEntry(numbered, 1)]
        many += (0..<GossipRules.maxKnowledgeEntries).map { KnowledgeEntry(replica($0), 1) }
        let crowded = GossipRules.changes(from: [replica(500_000): 9, replica(500_001): 1, replica(600_000): 4], to: many,
                                          numbered: { $0 == numbered })
        #expect(crowded.count == GossipRules.maxKnowledgeEntries)
        #expect(Array(crowded.prefix(5)) == [KnowledgeEntry(replica(500_000), 2), KnowledgeEntry(replica(600_000), 0), KnowledgeEntry(replica(500_001), 3),
                                             KnowledgeEntry(numbered, 1), KnowledgeEntry(peer, 6)])
        var kept: [ReplicaID: UInt64] = [:]
        GossipRules.take((0..<10).map { KnowledgeEntry(replica($0 + 10), 3) }, into: &kept, limit: 4)
        #expect(kept.count == 4)
        GossipRules.take([KnowledgeEntry(replica(10), 0)], into: &kept, limit: 4)
        #expect(kept.count == 3)
    }

    /// Replicas are numbered per connection and direction: the 16 bytes go
    /// once; a word out of turn breaks the numbering and is refused.
    @Test func knowledgeWordsNumberReplicasOnce() {
        var out = KnowledgeNumbering(), into = KnowledgeNumbering()
        let first = out.words([KnowledgeEntry(replica(1), 5), KnowledgeEntry(replica(2), 6)])
        #expect(first.allSatisfy { $0.replica != nil })
        let second = out.words([KnowledgeEntry(replica(2), 9)])
        #expect(second == [KnowledgeWord(slot: 1, seq: 9)])
        #expect(into.entries(first) == [KnowledgeEntry(replica(1), 5), KnowledgeEntry(replica(2), 6)])
        #expect(into.entries(second) == [KnowledgeEntry(replica(2), 9)])
        var fresh = KnowledgeNumbering()
        #expect(fresh.entries([KnowledgeWord(slot: 3, seq: 1)]) == nil)
        #expect(fresh.entries([KnowledgeWord(slot: 1, replica: replica(4), seq: 1)]) == nil)
    }

    /// A session machine of 1.6: a repair that changed something makes the
    /// store forget its knowledge; a commit makes the puller tell its peer.
    @Test func aRepairThatChangedSomethingForgetsKnowledge() {
        var settings = SessionMachine.Settings(sends: true, receives: true, tabled: true, batchMaxSlots: 100, batchMaxBytes: 1 << 20,
                                               maxFrameBytes: 1 << 22, digestIntervalMillis: 60_000, keepaliveMillis: 30_000)
        settings.gossip = true
        settings.knowledgeGatherMillis = 5
        var machine = SessionMachine(settings: settings, now: 0)
        #expect(machine.handle(.start(highestSeq: 0), at: 0).contains(.readKnowledge))
        let told = machine.handle(.knowledgeRead([KnowledgeEntry(replica(1), 4)]), at: 11)
        #expect(told.contains(.send(.knowledge([KnowledgeWord(slot: 0, replica: replica(1), seq: 4)]))))
        // Nothing changed: nothing more to tell.
        _ = machine.handle(.committed(highestSeq: 4), at: 12)
        _ = machine.handle(.tick, at: 20)
        #expect(!machine.handle(.knowledgeRead([KnowledgeEntry(replica(1), 4)]), at: 21).contains { if case .send(.knowledge) = $0 { true } else { false } })
        // A repair that changed something: the store dropped its knowledge
        // (`Store.apply`), so the puller reads and tells again.
        _ = machine.handle(.received(.repairBatch(changes: [], last: true)), at: 30)
        #expect(machine.handle(.merged(changed: 2, repair: true), at: 31).contains(.readKnowledge))
        let zeroed = machine.handle(.knowledgeRead([]), at: 32)
        #expect(zeroed.contains(.send(.knowledge([KnowledgeWord(slot: 0, seq: 0)]))))
    }

    static func gossipMachine() -> SessionMachine {
        var settings = SessionMachine.Settings(sends: true, receives: true, tabled: true, batchMaxSlots: 100, batchMaxBytes: 1 << 20,
                                               maxFrameBytes: 1 << 22, digestIntervalMillis: 60_000, keepaliveMillis: 30_000)
        settings.gossip = true
        var machine = SessionMachine(settings: settings, now: 0)
        _ = machine.handle(.start(highestSeq: 0), at: 0)
        return machine
    }

    static func sentBatch(_ actions: [SessionMachine.Action]) -> SyncMessage.Batch? {
        for case .send(.batch(let batch)) in actions { return batch }
        return nil
    }

    /// An answer of only relayed states waits `relayDelayMillis` and is read
    /// again; an answer with one of our own states goes at once; a wait is
    /// taken once per pull.
    @Test func onlyRelayedAnswersWait() {
        let change = SlotChange(key: SlotKey(collection: "agreements", record: "r", field: "title"), state: .empty)
        for relayed in [true, false] {
            var machine = Self.gossipMachine()
            let asked = machine.handle(.received(.pull(cursor: 0, maxCount: 100, maxBytes: 1 << 20, wait: true)), at: 1)
            #expect(asked.contains { if case .readFeed = $0 { true } else { false } })
            let first = machine.handle(.feedRead(changes: [change], cursor: 3, hasMore: false, highest: 3, knowledge: [], relayedOnly: relayed), at: 2)
            if relayed {
                #expect(Self.sentBatch(first) == nil)
                #expect(first.contains(.wake(at: 2 + GossipRules.relayDelayMillis)))
                let again = machine.handle(.tick, at: 2 + GossipRules.relayDelayMillis)
                #expect(again.contains { if case .readFeed = $0 { true } else { false } })
                let second = machine.handle(.feedRead(changes: [change], cursor: 3, hasMore: false, highest: 3, knowledge: [], relayedOnly: true),
                                            at: 3 + GossipRules.relayDelayMillis)
                #expect(Self.sentBatch(second)?.changes == [change])
            } else {
                #expect(Self.sentBatch(first)?.changes == [change])
            }
        }
    }

    /// Claims are learned only from a batch that ends exactly at the peer's
    /// highest seq: one whose cursor is past it (the peer's feed went back)
    /// or that has more to come teaches nothing.
    @Test func onlyABatchEndingAtTheHighestSeqTeaches() {
        for (cursor, highest, more, learns) in [(9 as UInt64, 9 as UInt64, false, true), (10, 9, false, false), (5, 9, false, false), (9, 9, true, false)] {
            var machine = Self.gossipMachine()
            _ = machine.handle(.cursorLoaded(0), at: 1)
            var batch = SyncMessage.Batch(changes: [], cursor: cursor, hasMore: more, highestSeq: highest, tabled: true)
            batch.knowledge = [KnowledgeWord(slot: 0, replica: replica(3), seq: 4)]
            let actions = machine.handle(.received(.batch(batch)), at: 2)
            let claims = actions.compactMap { action -> [KnowledgeEntry]?? in
                if case .merge(_, _, _, let claims) = action { return claims }
                return nil
            }.first
            #expect(claims != nil, "the batch was merged")
            #expect((claims! != nil) == learns, "cursor \(cursor), highest \(highest), more \(more)")
        }
    }

    /// A repair batch that changes a slot drops every claim in the same
    /// transaction; one that changes nothing keeps them.
    @Test func aRepairThatChangesSomethingDropsKnowledge() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try b.withWriteTransaction { db in try Store.learn([KnowledgeEntry(replica(7), 9)], in: db) }
        try Self.write(a, "r1", "x")
        let all = try a.changes(since: 0, maxCount: 1_000, maxBytes: 1 << 20).changes
        let report = try b.apply(all, from: a.replicaID, repair: true)
        #expect(report.changed > 0 && report.forgotKnowledge)
        #expect(try b.knowledge()[replica(7)] == nil)
        try b.withWriteTransaction { db in try Store.learn([KnowledgeEntry(replica(7), 9)], in: db) }
        #expect(try !b.apply(all, from: a.replicaID, repair: true).forgotKnowledge)
        #expect(try b.knowledge()[replica(7)] == 9)
    }

    /// A replica id taken back by its proven owner: what the squatter's
    /// batches taught goes too.
    @Test func aReclaimedIdDropsKnowledge() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("k.db")
        let owner = replica(5)
        _ = try store.bindPeer(replica: owner, device: "squatter", proven: false)
        try store.withWriteTransaction { db in try Store.learn([KnowledgeEntry(owner, 1 << 40), KnowledgeEntry(replica(6), 3)], in: db) }
        _ = try store.bindPeer(replica: owner, device: "owner", proven: true)
        #expect(try store.knowledge()[owner] == nil && store.knowledge()[replica(6)] == nil)
    }
}
