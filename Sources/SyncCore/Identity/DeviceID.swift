import Crypto
import Foundation

/// A device's identity: SHA-256 of its certificate's SubjectPublicKeyInfo,
/// printed as base32 in groups of four (`MFZW-Q5DU-…`), like Syncthing's.
public struct DeviceID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The 32 hash bytes.
    public let bytes: [UInt8]

    public init(spki: [UInt8]) { bytes = Array(SHA256.hash(data: spki)) }

    init(hash: [UInt8]) { bytes = hash }

    /// Parses the printed form (case, dashes and spaces ignored).
    public init?(_ text: String) {
        let cleaned = text.uppercased().filter { !"- ".contains($0) }
        guard let decoded = Base32.decode(cleaned), decoded.count == 32 else { return nil }
        bytes = decoded
    }

    public var description: String {
        let text = Base32.encode(bytes)
        return stride(from: 0, to: text.count, by: 4).map { start in
            let from = text.index(text.startIndex, offsetBy: start)
            return String(text[from..<text.index(from, offsetBy: min(4, text.count - start))])
        }.joined(separator: "-")
    }

    /// The first group, for logs.
    public var short: String { String(description.prefix(9)) }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = DeviceID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a device ID (52 base32 characters, grouped by dashes; `syncctl id` prints one)"))
        }
        self = id
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// RFC 4648 base32, no padding.
enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for char in text.utf8 {
            guard let value = alphabet.firstIndex(of: char) else { return nil }
            buffer = buffer << 5 | UInt32(value)
            bits += 5
            if bits >= 8 {
                out.append(UInt8((buffer >> UInt32(bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return out
    }
}
