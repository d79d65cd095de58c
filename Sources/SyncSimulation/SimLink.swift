import SyncCore

/// A connection between two replicas over the simulated network: a
/// `SessionMachine` on each side, and a FIFO queue each way whose delays
/// come from the seed (messages of different connections reorder freely).
final class SimLink {
    let index: Int
    /// Side 0 and side 1.
    let ends: [Int]
    /// Whether side s sends to / receives from the other (its mode).
    var modes: [PeerMode]
    /// Part of the spanning tree: always both ways, so the team stays one.
    let essential: Bool
    /// Bumped at each connect and drop: events of an older connection are stale.
    var generation: UInt64 = 0
    var machines: [SessionMachine?] = [nil, nil]
    /// The peer's replica id as each side saw it in the hello.
    var peerReplica: [ReplicaID?] = [nil, nil]
    /// Messages delivered to side s and not yet read (the machine reads
    /// only while `readsInbound`).
    var inbox: [[SyncMessage]] = [[], []]
    /// Last delivery time each way (FIFO per direction).
    var lastDelivery: [UInt64] = [0, 0]
    /// Pulls side s sent that the other side has not answered.
    var pullsUnanswered: [Int] = [0, 0]
    /// Batches sent toward side s that its machine has not finished with
    /// (merged, or found nothing to merge).
    var batchesUnfinished: [Int] = [0, 0]
    /// Whether side s pulls from the other on this connection.
    var receives: [Bool] = [false, false]
    /// The peers' replica ids of each connection so far (a merge of a closed
    /// connection still completes under them).
    var peersByGeneration: [UInt64: [ReplicaID?]] = [:]
    /// The earliest tick asked for by each side.
    var wake: [UInt64?] = [nil, nil]
    /// The link is cut (a partition) until this time.
    var cutUntil: UInt64 = 0
    /// A connect is already scheduled.
    var connecting = false

    init(index: Int, ends: [Int], modes: [PeerMode], essential: Bool) {
        self.index = index
        self.ends = ends
        self.modes = modes
        self.essential = essential
    }

    var isUp: Bool { machines[0] != nil }


    func side(of replica: Int) -> Int? { ends.firstIndex(of: replica) }

    func peerReplica(at generation: UInt64, _ side: Int) -> ReplicaID? { peersByGeneration[generation]?[side] ?? nil }

    func drop() {
        generation += 1
        machines = [nil, nil]
        peerReplica = [nil, nil]
        inbox = [[], []]
        pullsUnanswered = [0, 0]
        batchesUnfinished = [0, 0]
        receives = [false, false]
        wake = [nil, nil]
    }
}
