import SyncCore

/// What replicas wrote, kept outside them: every dot issued, by whom, and
/// for each slot it wrote, the slot's context right after the write (what
/// the writer had seen). From these alone it says which versions every
/// replica must end with: the written versions that no other write saw.
struct WriteOracle {
    struct Entry {
        let dot: Dot
        let key: SlotKey
        /// The slot's context after the write: every dot it supersedes.
        let context: VersionContext
    }

    private var issuedBy: [Dot: Int] = [:]
    private(set) var entries: [Entry] = []

    /// Records that `replica` issued `dot`; returns the replica that had
    /// issued it before, if any (a dot issued twice).
    mutating func record(dot: Dot, by replica: Int) -> Int? {
        if let previous = issuedBy[dot] { return previous }
        issuedBy[dot] = replica
        return nil
    }

    mutating func written(dot: Dot, key: SlotKey, context: VersionContext) {
        entries.append(Entry(dot: dot, key: key, context: context))
    }

    /// Per slot written, the dots that must be live at the end, sorted: those
    /// no other write's context covers. A version covered by a later write
    /// is superseded (the merge removes it everywhere); one not covered is
    /// present on every replica, as a value or as a sibling in conflict.
    func expectedLive() -> [(key: SlotKey, dots: [Dot])] {
        var byKey: [SlotKey: [Entry]] = [:]
        var order: [SlotKey] = []
        for entry in entries {
            if byKey[entry.key] == nil { order.append(entry.key) }
            byKey[entry.key, default: []].append(entry)
        }
        return order.map { key in
            let written = byKey[key] ?? []
            let live = written.filter { entry in
                !written.contains { other in other.dot != entry.dot && other.context.covers(entry.dot) }
            }
            return (key, Self.sorted(live.map(\.dot)))
        }
    }

    /// Dots in one order that depends on their bytes only.
    static func sorted(_ dots: [Dot]) -> [Dot] {
        dots.sorted { ($0.replica.bytes, $0.counter) < ($1.replica.bytes, $1.counter) }
    }
}

private func < (lhs: ([UInt8], UInt64), rhs: ([UInt8], UInt64)) -> Bool {
    lhs.0 == rhs.0 ? lhs.1 < rhs.1 : lhs.0.lexicographicallyPrecedes(rhs.0)
}
