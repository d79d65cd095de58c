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

/// A deterministic generator for shuffles inside a property (seeded by the input).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
