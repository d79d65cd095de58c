/// The checks a daemon makes on a peer's hello and replica proof, and the
/// choice between two connections of one pair of devices (docs/protocol.md,
/// "A session"; replication-model §3.3). Pure: the driver (`SyncNode`) reads
/// the store's binding and the registry, and does what the verdicts say.
public enum HelloRules {
    /// What to do with a peer after its hello (and proof, for minor ≥ 2),
    /// before its replica id is bound.
    public enum Admission: Equatable, Sendable {
        /// Bind the id to the device, as proven or not (`Store.bindPeer`).
        case bind(proven: Bool)
        /// Close with `reason` (sent in a goodbye); `replica` when it is
        /// counted with the refused replicas.
        case refuse(reason: String, countsAsReplica: Bool)
        /// Close with `reason`: the peer holds another dataset, of lineage
        /// `theirs` (shown with the peer in `syncctl status`).
        case otherDataset(reason: String, theirs: String)
    }

    /// Whether the peer must send a replica proof after the hellos.
    public static func expectsProof(from hello: SyncMessage.Hello) -> Bool {
        hello.protocolMinor >= ReplicaProof.firstMinor
    }

    /// The checks before binding: the major version, the dataset's lineage,
    /// our own id, the proof. `lineage` is this daemon's (its seed schema's name).
    public static func admit(_ theirs: SyncMessage.Hello, ownReplica: ReplicaID, proofNonce: [UInt8]?, device: DeviceID, lineage: String) -> Admission {
        guard theirs.protocolMajor == SyncMessage.protocolMajor else {
            return .refuse(reason: "protocol version \(theirs.protocolMajor).\(theirs.protocolMinor) is not supported; this daemon speaks \(SyncMessage.protocolMajor).x",
                           countsAsReplica: false)
        }
        if let reason = lineageRefusal(theirs: Self.lineage(of: theirs), ours: lineage) {
            return .otherDataset(reason: reason, theirs: Self.lineage(of: theirs))
        }
        guard theirs.replica.bytes != ownReplica.bytes else {
            return .refuse(reason: "peer uses this daemon's own replica id \(ownReplica.short): a copied database?", countsAsReplica: true)
        }
        let nonce = proofNonce.flatMap { $0.isEmpty ? nil : $0 }
        switch ReplicaProof.judge(replica: theirs.replica, minor: theirs.protocolMinor, nonce: nonce, device: device) {
        case .failed(let why): return .refuse(reason: "replica proof failed: \(why)", countsAsReplica: true)
        case .proven: return .bind(proven: true)
        case .unprovable: return .bind(proven: false)
        }
    }

    /// The lineage a hello stands for: the one it carries, else (a peer
    /// older than protocol 1.4) the shipped dataset's, the only one such a
    /// peer can hold.
    public static func lineage(of hello: SyncMessage.Hello) -> String {
        hello.lineage ?? SchemaLineage.shipped
    }

    /// The start of every lineage refusal (`syncctl join` recognises it).
    public static let lineageRefusalLead = "another dataset: "

    /// Why two daemons must not sync, when their datasets grew from seed
    /// schemas of different names; nil for one lineage. The names are
    /// compared as bytes: two that merely look alike are two datasets.
    public static func lineageRefusal(theirs: String, ours: String) -> String? {
        guard !SchemaLineage.same(theirs, ours) else { return nil }
        // Swift's == (canonical equivalence) only explains the refusal; the bytes decided it.
        let lookAlike = theirs == ours ? " (the two names look alike but differ in their UTF-8 bytes, such as a composed and a decomposed accent)" : ""
        return lineageRefusalLead + "this daemon's is '\(SchemaLineage.display(ours))' and the other side's '\(SchemaLineage.display(theirs))' (the names of their seed schemas)\(lookAlike); "
            + "daemons of two datasets never sync: remove this peer, or give it a data directory started on the same schema file (`syncctl init --schema FILE`)"
    }

    /// What the binding means for the session.
    public enum BindingVerdict: Equatable, Sendable {
        case accept
        /// Accept; the id was taken back from `previousDevice`, whose session
        /// (if any) is to be closed.
        case acceptTakingBack(previousDevice: String)
        case refuse(reason: String)
    }

    public static func verdict(on binding: PeerBinding, replica: ReplicaID, device: DeviceID) -> BindingVerdict {
        switch binding {
        case .accepted: .accept
        case .reclaimed(let previous): .acceptTakingBack(previousDevice: previous)
        case .ours: .refuse(reason: "peer presents replica id \(replica), which this database had itself: a copy of this database, or a peer posing as it")
        case .conflicting(let recorded): .refuse(reason: "replica id \(replica) was seen before with device \(recorded), now presented by \(device)")
        }
    }

    /// Two connections join the same pair of devices: both sides keep the
    /// one dialed by the smaller device ID, so they agree without talking.
    /// True when the new connection replaces the existing. "Smaller" is the
    /// byte order of the printed IDs (base32, ASCII), not of the hash bytes:
    /// the order every earlier build used, which both sides must share.
    public static func replaces(existingDialedBy existing: DeviceID, newDialedBy new: DeviceID) -> Bool {
        new.description.utf8.lexicographicallyPrecedes(existing.description.utf8)
    }
}
