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
    public static let protocolMinor: UInt16 = 4

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
        }
    }
}
