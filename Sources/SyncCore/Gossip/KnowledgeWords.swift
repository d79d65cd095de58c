/// One knowledge entry as it crosses a connection (protocol 1.6): replicas
/// are numbered per connection and direction, so a replica's 16 bytes go
/// once and each later entry about it costs a few bytes (`KnowledgeNumbering`).
public struct KnowledgeWord: Hashable, Sendable {
    /// The replica's number on this connection, this direction.
    public var slot: UInt32
    /// The replica, the first time `slot` is used (then `slot` is the next number).
    public var replica: ReplicaID?
    /// The seq (0: no longer claimed).
    public var seq: UInt64

    public init(slot: UInt32, replica: ReplicaID? = nil, seq: UInt64) {
        self.slot = slot
        self.replica = replica
        self.seq = seq
    }
}

/// The numbering of replicas in knowledge words, one per direction of a
/// connection: the sender's and the receiver's stay equal because messages
/// arrive in the order they were sent. At most
/// `GossipRules.maxKnowledgeEntries` replicas; an entry about another is not
/// sent (safe: its slots are then sent).
public struct KnowledgeNumbering: Sendable, Equatable {
    private var slots: [ReplicaID: UInt32] = [:]
    private var replicas: [ReplicaID] = []

    public init() {}

    /// Sender: the words for `entries`, numbering new replicas.
    public mutating func words(_ entries: [KnowledgeEntry]) -> [KnowledgeWord] {
        entries.compactMap { entry in
            if let slot = slots[entry.replica] { return KnowledgeWord(slot: slot, seq: entry.seq) }
            guard replicas.count < GossipRules.maxKnowledgeEntries else { return nil }
            let slot = UInt32(replicas.count)
            slots[entry.replica] = slot
            replicas.append(entry.replica)
            return KnowledgeWord(slot: slot, replica: entry.replica, seq: entry.seq)
        }
    }

    /// Whether `replica` has a number on this connection.
    public func isNumbered(_ replica: ReplicaID) -> Bool { slots[replica] != nil }

    /// Sender: the entries words it made stand for (what was told; an
    /// entry past the numbering limit was not).
    public func sent(_ words: [KnowledgeWord]) -> [KnowledgeEntry] {
        words.map { KnowledgeEntry(replicas[Int($0.slot)], $0.seq) }
    }

    /// Receiver: the entries `words` stand for; nil when a word breaks the
    /// numbering (a number not given yet, or a new replica out of turn).
    public mutating func entries(_ words: [KnowledgeWord]) -> [KnowledgeEntry]? {
        var entries: [KnowledgeEntry] = []
        entries.reserveCapacity(words.count)
        for word in words {
            if let replica = word.replica {
                guard word.slot == UInt32(replicas.count), replicas.count < GossipRules.maxKnowledgeEntries else { return nil }
                replicas.append(replica)
                slots[replica] = word.slot
            } else if Int(word.slot) >= replicas.count {
                return nil
            }
            entries.append(KnowledgeEntry(replicas[Int(word.slot)], word.seq))
        }
        return entries
    }
}

extension BinaryWriter {
    /// A knowledge word: varint (slot << 1 | 1 if the replica follows), [replica], varint seq.
    mutating func writeKnowledgeWord(_ word: KnowledgeWord) {
        writeVarint(UInt64(word.slot) << 1 | (word.replica == nil ? 0 : 1))
        if let replica = word.replica { writeReplica(replica) }
        writeVarint(word.seq)
    }
}

extension BinaryReader {
    /// The list `writeKnowledgeWords` writes: varint n (at most
    /// `GossipRules.maxKnowledgeEntries`), then n words.
    mutating func readKnowledgeWords() throws(BinaryDecodingError) -> [KnowledgeWord] {
        let count = try readVarint()
        guard count <= UInt64(GossipRules.maxKnowledgeEntries) else {
            throw .malformed("\(count) knowledge entries (limit \(GossipRules.maxKnowledgeEntries))", at: offset)
        }
        guard count <= UInt64(remaining / 2) else { throw .truncated(at: offset) }
        var words: [KnowledgeWord] = []
        words.reserveCapacity(Int(count))
        for _ in 0..<count {
            let head = try readVarint()
            guard head >> 1 < UInt64(GossipRules.maxKnowledgeEntries) else { throw .malformed("knowledge replica number \(head >> 1) out of range", at: offset) }
            let replica = head & 1 == 1 ? try readReplica() : nil
            let seq = try readVarint()
            guard seq <= ReceiveLimits.maxCounter else { throw .malformed("knowledge seq \(seq) above 2^63-1", at: offset) }
            words.append(KnowledgeWord(slot: UInt32(head >> 1), replica: replica, seq: seq))
        }
        return words
    }
}

extension BinaryWriter {
    mutating func writeKnowledgeWords(_ words: [KnowledgeWord]) {
        writeVarint(UInt64(words.count))
        for word in words { writeKnowledgeWord(word) }
    }
}
