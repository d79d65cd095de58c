/// One write of one slot: `(dot, hlc, author, value)` (replication-model §1).
public struct Version: Hashable, Sendable {
    public let dot: Dot
    public let hlc: HLC
    public let author: String
    public let value: Value

    public init(dot: Dot, hlc: HLC, author: String, value: Value) {
        self.dot = dot
        self.hlc = hlc
        self.author = author
        self.value = value
    }

    /// Every part equal, the author and text by their UTF-8 bytes (replication-model §2.4).
    public static func == (lhs: Version, rhs: Version) -> Bool {
        lhs.dot == rhs.dot && lhs.hlc == rhs.hlc && UTF8Identity.equal(lhs.author, rhs.author) && lhs.value == rhs.value
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(dot)
        hasher.combine(hlc)
        UTF8Identity.hash(author, into: &hasher)
        hasher.combine(value)
    }

    /// The order that picks a scalar winner among siblings: highest `(hlc, replica)`,
    /// then counter, so every replica picks the same one.
    public static func winsOver(_ lhs: Version, _ rhs: Version) -> Bool {
        (lhs.hlc, lhs.dot.replica, lhs.dot.counter) > (rhs.hlc, rhs.dot.replica, rhs.dot.counter)
    }
}
