import Crypto

/// A slot's hash for the digest: SHA-256 of its encoded key and canonical
/// state, truncated to `StateDigest.hashSize` (16) bytes.
///
/// Held as two words so the per-slot path XORs and stores it without
/// allocating; `withUnsafeBytes` gives the 16 bytes in the order SHA-256
/// produced them.
struct SlotHash: Equatable, Sendable {
    private var first: UInt64
    private var second: UInt64

    static let zero = SlotHash(first: 0, second: 0)

    private init(first: UInt64, second: UInt64) {
        self.first = first
        self.second = second
    }

    /// The hash of `bytes`, the encoded key followed by the encoded state.
    init(ofKeyAndState bytes: UnsafeRawBufferPointer) {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        self = hasher.finalize().withUnsafeBytes { digest in
            SlotHash(first: digest.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                     second: digest.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }

    /// A stored hash column; nil unless it holds exactly 16 bytes.
    init?(stored: UnsafeRawBufferPointer) {
        guard stored.count == StateDigest.hashSize else { return nil }
        first = stored.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        second = stored.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
    }

    static func ^= (lhs: inout SlotHash, rhs: SlotHash) {
        lhs.first ^= rhs.first
        lhs.second ^= rhs.second
    }

    func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try Swift.withUnsafeBytes(of: (first, second)) { try body($0) }
    }
}
