import Crypto
@testable import SyncCore

/// A replica held in memory: slot states, a dot counter and a hybrid clock.
/// Drives the pure merge the way the store does, without I/O.
struct SimulatedReplica {
    let id: ReplicaID
    var counter: UInt64 = 0
    var clock = HybridClock()
    var slots: [SlotKey: SlotState] = [:]

    init(id: ReplicaID) { self.id = id }

    /// One local transaction: every slot written shares one dot.
    mutating func write(_ writes: [(SlotKey, Value)], author: String = "sim", wall: UInt64) {
        counter += 1
        let dot = Dot(replica: id, counter: counter)
        let hlc = clock.tick(wallMillis: wall)
        for (key, value) in writes {
            let version = Version(dot: dot, hlc: hlc, author: author, value: value)
            slots[key] = SlotMerge.write(version, over: slots[key] ?? .empty)
        }
    }

    mutating func merge(_ incoming: [SlotKey: SlotState], wall: UInt64 = 0) {
        for (key, state) in incoming {
            for version in state.versions { _ = clock.receive(version.hlc, wallMillis: wall) }
            slots[key] = SlotMerge.merge(slots[key] ?? .empty, state)
        }
    }

    /// A digest over the canonical encoding of every slot, sorted by key.
    var digest: String {
        var hasher = SHA256()
        for key in slots.keys.sorted() {
            var writer = BinaryWriter()
            SlotStateCodec.encode(key, into: &writer)
            SlotStateCodec.encode(slots[key]!, into: &writer)
            hasher.update(data: writer.bytes)
        }
        return hasher.finalize().map { String($0, radix: 16) }.joined()
    }
}
