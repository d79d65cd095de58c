import PropertyBased
@testable import SyncCore

/// Test replicas with small, readable ids.
func replica(_ n: Int) -> ReplicaID { ReplicaID(high: 0xAB, low: UInt64(n + 1)) }

/// The one version a dot stands for in a slot: content is a function of the dot,
/// as it is in the real system (one transaction writes one value per slot).
func versionFor(_ dot: Dot, values: Int = 3) -> Version {
    let mix = dot.replica.low &* 31 &+ dot.counter
    return Version(dot: dot, hlc: HLC(millis: 1_000 + dot.counter * 7 + dot.replica.low, logical: 0),
                   author: "a\(dot.replica.low)", value: .int(Int64(mix % UInt64(values))))
}

/// A random slot state satisfying the replication-model §2 invariant, built from generated
/// integers so shrinking shortens it: 3 replicas, counters up to 6.
func slotState(from numbers: [Int]) -> SlotState {
    var context = VersionContext()
    var versions: [Version] = []
    for (index, number) in numbers.enumerated() {
        let r = replica(index % 3)
        let counter = UInt64(number % 7)
        context.include(Dot(replica: r, counter: counter))
    }
    for (index, number) in numbers.enumerated() where number % 2 == 1 {
        let r = replica((index + number) % 3)
        let covered = context[r]
        guard covered > 0 else { continue }
        let dot = Dot(replica: r, counter: 1 + UInt64(number / 7) % covered)
        if !versions.contains(where: { $0.dot == dot }) { versions.append(versionFor(dot)) }
    }
    return SlotState(versions: versions, context: context)
}

let slotStateGen = Gen.int(in: 0...1_000).array(of: 0...8).map { slotState(from: $0) }
