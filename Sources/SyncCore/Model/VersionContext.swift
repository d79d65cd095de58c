/// A slot's context: for each replica, the highest counter seen for this slot.
///
/// Held as a small array sorted by replica: a slot is written by few replicas,
/// so lookups are short scans and merges are linear.
public struct VersionContext: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public let replica: ReplicaID
        public let counter: UInt64
        public init(replica: ReplicaID, counter: UInt64) {
            self.replica = replica
            self.counter = counter
        }
    }

    /// Sorted by replica, one entry per replica, counters > 0.
    public private(set) var entries: [Entry]

    public init() { entries = [] }

    /// Builds a context from any entries; duplicates keep the highest counter.
    public init(_ pairs: [(ReplicaID, UInt64)]) {
        var context = VersionContext()
        for (replica, counter) in pairs { context.include(Dot(replica: replica, counter: counter)) }
        self = context
    }

    /// Trusts the caller that `entries` are sorted and unique (decoder fast path).
    init(sortedEntries: [Entry]) { entries = sortedEntries }

    public subscript(replica: ReplicaID) -> UInt64 {
        for entry in entries where entry.replica == replica { return entry.counter }
        return 0
    }

    /// `C[dot.replica] >= dot.counter`.
    public func covers(_ dot: Dot) -> Bool { self[dot.replica] >= dot.counter }

    /// Raises this context to cover `dot`.
    public mutating func include(_ dot: Dot) {
        guard dot.counter > 0 else { return }
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].replica < dot.replica { low = mid + 1 } else { high = mid }
        }
        if low < entries.count, entries[low].replica == dot.replica {
            if entries[low].counter < dot.counter { entries[low] = Entry(replica: dot.replica, counter: dot.counter) }
        } else {
            entries.insert(Entry(replica: dot.replica, counter: dot.counter), at: low)
        }
    }

    /// Pointwise maximum of two contexts.
    public func joined(with other: VersionContext) -> VersionContext {
        var result: [Entry] = []
        result.reserveCapacity(max(entries.count, other.entries.count))
        var i = 0
        var j = 0
        while i < entries.count || j < other.entries.count {
            if j == other.entries.count || (i < entries.count && entries[i].replica < other.entries[j].replica) {
                result.append(entries[i]); i += 1
            } else if i == entries.count || other.entries[j].replica < entries[i].replica {
                result.append(other.entries[j]); j += 1
            } else {
                result.append(entries[i].counter >= other.entries[j].counter ? entries[i] : other.entries[j])
                i += 1; j += 1
            }
        }
        return VersionContext(sortedEntries: result)
    }

    /// True when every entry of `other` is covered by this context.
    public func includes(_ other: VersionContext) -> Bool {
        other.entries.allSatisfy { self[$0.replica] >= $0.counter }
    }
}
