/// One local write transaction of one replica: `(replica, counter)`.
///
/// The counter grows by one per local write transaction; every slot written in
/// that transaction carries the same dot (replication-model §1).
public struct Dot: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let replica: ReplicaID
    public let counter: UInt64

    public init(replica: ReplicaID, counter: UInt64) {
        self.replica = replica
        self.counter = counter
    }

    public var description: String { "\(replica.short):\(counter)" }

    public static func < (lhs: Dot, rhs: Dot) -> Bool {
        lhs.replica != rhs.replica ? lhs.replica < rhs.replica : lhs.counter < rhs.counter
    }
}
