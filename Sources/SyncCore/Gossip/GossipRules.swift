/// A position in a replica's feed: its replica and a seq of it. Three
/// names say what the position means where it is used.
public struct FeedPosition: Hashable, Sendable {
    public var replica: ReplicaID
    public var seq: UInt64

    public init(replica: ReplicaID, seq: UInt64) {
        self.replica = replica
        self.seq = seq
    }

    public init(_ replica: ReplicaID, _ seq: UInt64) {
        self.init(replica: replica, seq: seq)
    }
}

/// Where a slot state stood in a replica's feed: the state is contained in
/// what `replica` held whenever its highest seq was `seq` or more
/// (replication-model §4.7). A state a replica wrote or merged itself has
/// its own replica and the seq it got; a state taken unchanged from a peer
/// keeps the origin the peer sent with it.
public typealias FeedOrigin = FeedPosition

/// One line of a replica's knowledge: it holds everything `replica` held
/// when `replica`'s highest seq was `seq` (0: nothing known).
public typealias KnowledgeEntry = FeedPosition

/// Gossip without duplicates (replication-model §4.7), as pure functions:
/// which slots a puller already holds, what a merged state's origin is,
/// what a completed read of a peer's feed teaches, and what to tell a peer.
/// A claim is only ever used to skip sending a state the claimant holds, so
/// a wrong claim (a bug, a hostile peer) can only delay a state until the
/// digest check (§4.5) repairs it, and a repair that changes anything
/// makes the repaired replica forget what it knew.
public enum GossipRules {
    /// Entries one `knowledge` message or batch may carry, and entries a
    /// session keeps of what its peer said it knows (more are ignored).
    public static let maxKnowledgeEntries = 1_024
    /// Replicas this replica keeps knowledge of (`sync_knowledge` rows); a
    /// claim about another replica beyond it is not kept.
    public static let maxKnowledgeRows = 4_096
    /// How long a server holds a waiting pull whose answer holds only states
    /// it relays (none of its own) before it reads its feed again, so that
    /// the puller's word that it already holds them (from another peer) can
    /// arrive first. Its own writes go at once.
    public static let relayDelayMillis: UInt64 = 100
    /// How long a puller gathers changes of its knowledge into one message.
    public static let knowledgeGatherMillis: UInt64 = 40
    /// The least time between two batches of one session that carry the
    /// server's knowledge (what rises meanwhile goes with the next).
    public static let claimsIntervalMillis: UInt64 = 200

    /// Whether a puller whose knowledge is `knowledge` holds the state that
    /// came from `origin`: it holds everything `origin.replica` held at a
    /// highest seq of at least `origin.seq`.
    ///
    /// The puller's word about the server itself is not taken (`own`), so
    /// the server's own writes always reach it; nor about the puller itself
    /// (a replica whose database went back under the same id, §3.3, must be
    /// sent its own later states: that is how it finds out).
    public static func pullerHolds(_ origin: FeedOrigin, puller: ReplicaID?, knowledge: [ReplicaID: UInt64], own: ReplicaID) -> Bool {
        guard origin.seq > 0, origin.replica != own, origin.replica != puller, let known = knowledge[origin.replica] else { return false }
        return known >= origin.seq
    }

    /// The origin a merged state is stored with: the sender's when the
    /// result is, byte for byte, the state it sent (so it is contained in
    /// whatever contained that); none otherwise (the state is ours, at the
    /// seq it gets here).
    public static func origin(equalsRemote: Bool, remote: FeedOrigin?) -> FeedOrigin? {
        equalsRemote ? remote : nil
    }

    /// What merging a batch of `peer`'s feed teaches us: nothing unless it
    /// brought us to the peer's highest seq as the peer read it (so we hold
    /// everything the peer held then); then that highest seq for the peer
    /// (`direct`: the peer's own word on its feed, which replaces whatever
    /// we held about it, higher or lower), and each claim the peer sent with
    /// it about a third replica (it held that, so we do; claims only raise
    /// what we hold). Claims about ourselves or the peer are not taken.
    public static func learned(peer: ReplicaID, cursor: UInt64, peerHighest: UInt64, claims: [KnowledgeEntry],
                               own: ReplicaID) -> Lesson? {
        guard peerHighest > 0, cursor >= peerHighest else { return nil }
        let taken = claims.prefix(maxKnowledgeEntries).filter { $0.seq > 0 && $0.replica != own && $0.replica != peer }
        return Lesson(direct: KnowledgeEntry(peer, peerHighest), claims: taken)
    }

    /// What one complete read of a peer's feed teaches (`learned`).
    public struct Lesson: Equatable, Sendable {
        public var direct: KnowledgeEntry
        public var claims: [KnowledgeEntry]
    }

    /// Rows of `sync_knowledge` kept for direct entries (a peer's word on
    /// its own feed): claims about third replicas stop being added at
    /// `maxKnowledgeRows - directReserve` rows, so made-up claims cannot
    /// crowd out what a replica learns from its own peers.
    public static let directReserve = 1_024

    /// The entries that tell a peer `now` when it was last told `told`:
    /// each that differs, and a 0 for each it no longer holds; at most
    /// `maxKnowledgeEntries` (the rest next time).
    ///
    /// Taken back first (a 0, or a word lowered), then raised words about
    /// replicas already told, then the others: those `numbered` on the
    /// connection first, the rest in the order of `now` (this replica's own
    /// peers first, `Store.storedKnowledge`). When more than fit, what makes
    /// the server send more never waits, and made-up ids cannot push out
    /// real replicas. The same knowledge gives the same message.
    public static func changes(from told: [ReplicaID: UInt64], to now: [KnowledgeEntry],
                               numbered: (ReplicaID) -> Bool = { _ in false }) -> [KnowledgeEntry] {
        var lowered: [KnowledgeEntry] = [], raised: [KnowledgeEntry] = [], renumbered: [KnowledgeEntry] = [], new: [KnowledgeEntry] = []
        var present: [ReplicaID: UInt64] = [:]
        for entry in now where present[entry.replica] == nil {
            present[entry.replica] = entry.seq
            switch told[entry.replica] {
            case let before? where before == entry.seq: continue
            case let before? where entry.seq < before: lowered.append(entry)
            case .some: raised.append(entry)
            case nil where numbered(entry.replica): renumbered.append(entry)
            case nil: new.append(entry)
            }
        }
        for replica in told.keys where present[replica] == nil { lowered.append(KnowledgeEntry(replica, 0)) }
        let byReplica: (KnowledgeEntry, KnowledgeEntry) -> Bool = { $0.replica < $1.replica }
        return Array((lowered.sorted(by: byReplica) + raised.sorted(by: byReplica) + renumbered.sorted(by: byReplica) + new)
            .prefix(maxKnowledgeEntries))
    }

    /// Folds entries told by a peer into what we keep of its knowledge: a
    /// 0 removes, anything else replaces; a new replica beyond `limit` is
    /// not kept (we then send it that state: safe).
    public static func take(_ entries: [KnowledgeEntry], into known: inout [ReplicaID: UInt64], limit: Int = maxKnowledgeEntries) {
        for entry in entries {
            if entry.seq == 0 {
                known[entry.replica] = nil
            } else if known[entry.replica] != nil || known.count < limit {
                known[entry.replica] = entry.seq
            }
        }
    }

    /// The claims a batch carries: the entries of `knowledge` above what
    /// the puller was last told (claims only rise; a puller keeps the
    /// highest it was told), in the order of `knowledge` (this replica's
    /// own peers first, so they are numbered first).
    public static func risen(_ knowledge: [KnowledgeEntry], since told: [ReplicaID: UInt64]) -> [KnowledgeEntry] {
        knowledge.filter { $0.seq > (told[$0.replica] ?? 0) }
    }

    /// Records what `sent` told the peer, as `changes` or `risen` computed it.
    public static func told(_ sent: [KnowledgeEntry], into told: inout [ReplicaID: UInt64]) {
        for entry in sent { told[entry.replica] = entry.seq == 0 ? nil : entry.seq }
    }
}
