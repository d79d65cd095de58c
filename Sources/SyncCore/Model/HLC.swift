import Foundation

/// A hybrid logical clock reading: 48 bits of Unix milliseconds, 16 bits logical.
///
/// Orders like its raw 64-bit value, so it can be stored in SQLite as one integer.
public struct HLC: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let raw: UInt64

    public init(raw: UInt64) { self.raw = raw }

    public init(millis: UInt64, logical: UInt16) {
        raw = (millis & 0xFFFF_FFFF_FFFF) << 16 | UInt64(logical)
    }

    public var millis: UInt64 { raw >> 16 }
    public var logical: UInt16 { UInt16(truncatingIfNeeded: raw) }

    public static let zero = HLC(raw: 0)

    /// The wall-clock time this reading stands for.
    public var date: Date { Date(timeIntervalSince1970: Double(millis) / 1000) }

    /// ISO 8601 with milliseconds, plus the logical part when it is not zero.
    public var description: String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let text = formatter.string(from: date)
        return logical == 0 ? text : "\(text)+\(logical)"
    }

    public static func < (lhs: HLC, rhs: HLC) -> Bool { lhs.raw < rhs.raw }
}
