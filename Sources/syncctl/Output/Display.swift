import Foundation
import SyncCore

/// How values and versions are shown to an analyst.
enum Display {
    static func value(_ value: Value) -> String {
        switch value {
        case .null: "—"
        default: value.description
        }
    }

    static func version(_ version: Version) -> String {
        "\(value(version.value))  (by \(version.author), replica \(version.dot.replica.short), \(version.hlc))"
    }

    /// A name as its bytes spell it: printable ASCII as it is, every other
    /// scalar as `\u{…}`, so two names that differ only in normalization
    /// (NFC beside NFD, a Kelvin sign beside K) read differently (in bash,
    /// `$'\u212A'` types U+212A back).
    static func name(_ text: String) -> String {
        guard !text.utf8.allSatisfy({ (0x20..<0x7F).contains($0) }) else { return text }
        return text.unicodeScalars.map { scalar in
            (0x20..<0x7F).contains(scalar.value) ? String(scalar) : "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        }.joined()
    }

    /// Cuts `text` to at most `width` columns (ellipsis when cut), without padding.
    static func clip(_ text: String, _ width: Int) -> String {
        fit(text, width).trimmingCharacters(in: .whitespaces)
    }

    /// Fits `text` into `width` columns, with an ellipsis when cut.
    static func fit(_ text: String, _ width: Int) -> String {
        // Plain Swift: called for every cell of a listing of up to millions of rows.
        let flat = text.utf8.contains(UInt8(ascii: "\n")) ? String(text.map { $0 == "\n" ? " " : $0 }) : text
        let count = flat.count
        if count <= width { return count == width ? flat : flat + String(repeating: " ", count: width - count) }
        return String(flat.prefix(max(0, width - 1))) + "…"
    }

    static func time(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false))
    }

    static func ago(_ date: Date) -> String {
        let seconds = max(0, Int(Date().timeIntervalSince(date)))
        if seconds < 60 { return "\(seconds)s ago" }
        if seconds < 3_600 { return "\(seconds / 60)m ago" }
        if seconds < 86_400 { return "\(seconds / 3_600)h ago" }
        return "\(seconds / 86_400)d ago"
    }

    /// "in 5h" for a time ahead (rounded down), "now" when it is past.
    static func until(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSinceNow)
        if seconds <= 0 { return "now" }
        if seconds < 60 { return "in \(seconds)s" }
        if seconds < 3_600 { return "in \(seconds / 60)m" }
        if seconds < 86_400 { return "in \(seconds / 3_600)h" }
        return "in \(seconds / 86_400)d"
    }

    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "K", "M", "G", "T"]
        var value = Double(count)
        var unit = 0
        while value >= 1_024 && unit < units.count - 1 { value /= 1_024; unit += 1 }
        return unit == 0 ? "\(count)B" : String(format: "%.1f%@", value, units[unit])
    }

    /// "device MFZW-Q5DU…" when the replica's device is known, else "replica 1a2b3c4d".
    static func device(_ replica: ReplicaID, _ devices: [ReplicaID: String]) -> String {
        if let device = devices[replica] { return "device \(device.prefix(9))…" }
        return replica == .seed ? "the seed" : "replica \(replica.short)"
    }
}
