import Foundation

/// The identity of one incarnation of one database: 16 random bytes.
///
/// A new replica id is made when a database is created, when a snapshot is
/// restored, and when a database is found opened by another device (replication-model §1, §3),
/// so one id never stands for two different histories.
public struct ReplicaID: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 16 bytes as two big-endian words, so ordering is byte-lexicographic.
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// Reads 16 bytes; returns nil for any other length.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            if index < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    /// Parses 32 hexadecimal digits (dashes allowed).
    public init?(hex: String) {
        let digits = hex.filter { $0 != "-" }
        guard digits.count == 32, let high = UInt64(digits.prefix(16), radix: 16),
              let low = UInt64(digits.suffix(16), radix: 16) else { return nil }
        self.init(high: high, low: low)
    }

    /// A fresh random id from the system's secure generator.
    public static func random() -> ReplicaID {
        var generator = SystemRandomNumberGenerator()
        return ReplicaID(high: generator.next(), low: generator.next())
    }

    public var bytes: [UInt8] {
        var words = (high.bigEndian, low.bigEndian)
        return withUnsafeBytes(of: &words) { Array($0) }
    }

    public var data: Data { Data(bytes) }

    public var hex: String {
        let h = String(high, radix: 16)
        let l = String(low, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h + String(repeating: "0", count: 16 - l.count) + l
    }

    /// The first 8 hex digits: enough to tell replicas apart in logs and tables.
    public var short: String { String(hex.prefix(8)) }

    public var description: String { hex }

    public static func < (lhs: ReplicaID, rhs: ReplicaID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// The fixed replica that writes the shipped seed data, so that replicas
    /// seeded apart hold identical slots (replication-model §8).
    public static let seed = ReplicaID(high: 0x5EED_0000_0000_0000, low: 0x0000_0000_0000_0001)
}
