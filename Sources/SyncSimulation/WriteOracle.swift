import SyncCore

/// What replicas wrote, kept outside them: every dot issued, by whom, and
/// the slots it wrote. At the end each written version must be present on
/// every replica, or superseded by a write whose context covered it.
struct WriteOracle {
    private var issuedBy: [Dot: Int] = [:]
    private(set) var written: [(dot: Dot, keys: [SlotKey])] = []

    /// Records that `replica` issued `dot`; returns the replica that had
    /// issued it before, if any (a dot issued twice).
    mutating func record(dot: Dot, by replica: Int) -> Int? {
        if let previous = issuedBy[dot] { return previous }
        issuedBy[dot] = replica
        return nil
    }

    mutating func written(dot: Dot, keys: [SlotKey]) { written.append((dot, keys)) }
}
