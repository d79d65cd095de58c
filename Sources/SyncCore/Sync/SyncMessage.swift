/// The messages two daemons exchange over one TLS connection (`docs/protocol.md`).
public enum SyncMessage: Equatable, Sendable {
    case hello(Hello)
    /// "Send me your slots with seq > cursor", at most maxCount / maxBytes;
    /// with `wait`, hold the answer until there is something new (push).
    case pull(cursor: UInt64, maxCount: UInt32, maxBytes: UInt32, wait: Bool)
    case batch(Batch)
    /// "Send me your digest"; carries the asker's highest seq so the answer can
    /// say whether the answerer has merged all of it.
    case digestRequest(highestSeq: UInt64)
    case digest(DigestReport)
    /// "Send me every slot in these buckets" (digest repair).
    case repairRequest(buckets: [UInt8])
    case repairBatch(changes: [SlotChange], last: Bool)
    case ping
    case pong
    /// Sent before closing, so both sides log the same reason.
    case goodbye(reason: String)
    /// Protocol 1.2: the nonce the sender's replica id was derived with
    /// (`ReplicaProof`), sent right after the hellos to a peer of minor ≥ 2;
    /// empty when the id was not derived.
    case replicaProof(nonce: [UInt8])
    /// Protocol 1.3: a joiner's proof of an invitation (replication-model
    /// §6.2), sent right after its hello to the inviter it dialed, before
    /// the inviter's hello; the inviter answers with its hello (accepted)
    /// or a goodbye (refused).
    case invitationClaim(id: [UInt8], secret: [UInt8])
    /// Protocol 1.3: the team-CA revocations the sender holds (replication-model
    /// §6.3), sent at the start of a session and whenever it learns a new one.
    case revocations([SignedRevocation])
    /// Protocol 1.5: a joiner asks for `maxBytes` of the peer's snapshot from
    /// `offset` (replication-model §4.6); the first, at offset 0, makes the peer take it.
    case snapshotPull(offset: UInt64, maxBytes: UInt32)
    /// Protocol 1.5: one piece of the snapshot, or the peer's refusal.
    case snapshotChunk(SnapshotChunk)
    /// Protocol 1.5: the joiner's word that no (more) snapshot is wanted and
    /// the ordinary session begins; `reason` says why (for both logs).
    case snapshotEnd(reason: String)
    /// Protocol 1.6: what the sender, a puller, holds of others' feeds
    /// (replication-model §4.7): entries that changed since it last said,
    /// 0 for one it no longer claims. The server skips what it covers.
    case knowledge([KnowledgeWord])

    public struct Hello: Equatable, Sendable {
        public var protocolMajor: UInt16
        public var protocolMinor: UInt16
        public var replica: ReplicaID
        public var deviceName: String
        public var schemaHash: String
        /// This side will answer the other's pulls.
        public var willSend: Bool
        /// This side will pull from the other.
        public var willReceive: Bool
        public var highestSeq: UInt64
        /// Protocol 1.4, a trailing field: the dataset's lineage, the name of
        /// the seed schema it grew from (at most `SchemaLineage.maxBytes`).
        /// Nil from an older peer, which holds the shipped dataset
        /// (`HelloRules.lineage(of:)`). Peers of two lineages refuse each other.
        public var lineage: String?
        /// Protocol 1.5, flag 4: the sender's first message after the hellos
        /// (and proofs) is `snapshotPull` or `snapshotEnd` (replication-model §4.6).
        public var joinDecisionFollows: Bool = false
        /// Protocol 1.5, a trailing field after the lineage: the sender joined
        /// by a snapshot of `replica` taken at `seq`, so its feed up to `seq`
        /// is that replica's feed then (`JoinRules.initialCursor`).
        public var origin: JoinOrigin?

        public init(protocolMajor: UInt16 = SyncMessage.protocolMajor, protocolMinor: UInt16 = SyncMessage.protocolMinor,
                    replica: ReplicaID, deviceName: String, schemaHash: String, willSend: Bool, willReceive: Bool, highestSeq: UInt64,
                    lineage: String? = nil) {
            self.lineage = lineage
            self.protocolMajor = protocolMajor
            self.protocolMinor = protocolMinor
            self.replica = replica
            self.deviceName = deviceName
            self.schemaHash = schemaHash
            self.willSend = willSend
            self.willReceive = willReceive
            self.highestSeq = highestSeq
        }
    }

    public struct Batch: Equatable, Sendable {
        public var changes: [SlotChange]
        /// The puller's next cursor.
        public var cursor: UInt64
        public var hasMore: Bool
        /// The sender's highest seq when it built the batch (for lag).
        public var highestSeq: UInt64
        /// Encoded with per-batch string and replica tables (protocol 1.1;
        /// sent only to peers whose hello says minor ≥ 1).
        public var tabled: Bool
        /// Protocol 1.6, in tabled batches that reach the sender's highest
        /// seq: its knowledge entries that changed since this session last
        /// sent them (replication-model §4.7).
        public var knowledge: [KnowledgeWord] = []

        public init(changes: [SlotChange], cursor: UInt64, hasMore: Bool, highestSeq: UInt64, tabled: Bool = false) {
            self.changes = changes
            self.cursor = cursor
            self.hasMore = hasMore
            self.highestSeq = highestSeq
            self.tabled = tabled
        }
    }

    public struct DigestReport: Equatable, Sendable {
        public var buckets: [[UInt8]]
        public var highestSeq: UInt64
        /// The sender has merged everything the receiver had when it last answered.
        public var caughtUp: Bool
    }

    public static let protocolMajor: UInt16 = 1
    /// 1: tabled batches (`ChangeTableCodec`). 2: `replicaProof` after the
    /// hellos. 3: `invitationClaim`, `revocations`. 4: the hello's lineage.
    /// 5: join by snapshot (`snapshotPull`, `snapshotChunk`, `snapshotEnd`,
    /// the hello's flag 4 and trailing origin). 6: gossip without duplicates
    /// (`knowledge`, a tabled batch's origins and knowledge). 7: join
    /// snapshots are storage format 5 (no message changes). 8: join
    /// snapshots are storage format 6 (no message changes).
    public static let protocolMinor: UInt16 = 8
    /// The first minor whose record rows (and so join snapshots, storage
    /// format 4) may carry origins.
    public static let originsMinor: UInt16 = 6
    /// The first minor that reads storage format 6 (rows without slot
    /// hashes; 1.7 read format 5, slots whose first state is not in history
    /// yet), and so a join snapshot of this build.
    public static let hashlessRowsMinor: UInt16 = 8

    /// A short name for logs and errors.
    public var kind: String {
        switch self {
        case .hello: "hello"
        case .pull: "pull"
        case .batch: "batch"
        case .digestRequest: "digest-request"
        case .digest: "digest"
        case .repairRequest: "repair-request"
        case .repairBatch: "repair-batch"
        case .ping: "ping"
        case .pong: "pong"
        case .goodbye: "goodbye"
        case .replicaProof: "replica-proof"
        case .invitationClaim: "invitation-claim"
        case .revocations: "revocations"
        case .snapshotPull: "snapshot-pull"
        case .snapshotChunk: "snapshot-chunk"
        case .snapshotEnd: "snapshot-end"
        case .knowledge: "knowledge"
        }
    }
}

/// A piece of a join snapshot (protocol 1.5).
public struct SnapshotChunk: Equatable, Sendable {
    /// Where `data` starts in the snapshot file.
    public var offset: UInt64
    /// The file's whole size (0 with a refusal).
    public var total: UInt64
    public var data: [UInt8]
    /// SHA-256 of the whole file, on the chunk that reaches `total`; empty otherwise.
    public var sha256: [UInt8]
    /// Non-empty: the peer will not send a snapshot, and why.
    public var refusal: String

    public init(offset: UInt64, total: UInt64, data: [UInt8], sha256: [UInt8] = [], refusal: String = "") {
        self.offset = offset
        self.total = total
        self.data = data
        self.sha256 = sha256
        self.refusal = refusal
    }

    public static func refused(_ reason: String) -> SnapshotChunk { SnapshotChunk(offset: 0, total: 0, data: [], refusal: reason) }
}

/// Where a replica's feed came from when it joined by snapshot: its seqs up
/// to `seq` are those of `replica`'s feed when the snapshot was taken.
public typealias JoinOrigin = FeedPosition
