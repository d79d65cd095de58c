import Crypto
import SyncCore

/// Checks of a whole store that more than one target makes.
public enum StoreChecks {
    /// A slot's identity: its key's canonical encoding (names by UTF-8 bytes).
    public static func keyBytes(_ key: SlotKey) -> [UInt8] {
        var writer = BinaryWriter()
        SlotStateCodec.encode(key, into: &writer)
        return writer.bytes
    }

    /// Reads every slot of `store` through its change feed (one page) and
    /// says what is wrong, or nil: a slot listed twice (by key bytes), a
    /// state that breaks the invariant, or a digest other than the one the
    /// slots add up to (per slot SHA-256 of key and state encodings, the
    /// first 16 bytes XORed into the FNV-1a bucket of the key).
    public static func feedAndDigestProblem(_ store: Store) throws -> String? {
        let feed = try store.changes(since: 0, maxCount: 1_000_000, maxBytes: Int.max / 2)
        let digest = try store.digest()
        guard !feed.hasMore else { return "the feed did not fit one page" }
        var buckets = [[UInt8]](repeating: [UInt8](repeating: 0, count: 16), count: StateDigest.bucketCount)
        var seen = Set<[UInt8]>()
        for change in feed.changes {
            let key = keyBytes(change.key)
            guard seen.insert(key).inserted else { return "the feed lists slot \(change.key) twice" }
            guard change.state.satisfiesInvariant else { return "stored state of \(change.key) breaks the invariant" }
            var hasher = SHA256()
            hasher.update(data: key)
            hasher.update(data: SlotStateCodec.encode(change.state))
            let hash = Array(hasher.finalize().prefix(16))
            var fnv: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in key { fnv = (fnv ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            let bucket = Int((fnv ^ (fnv >> 32)) & 0xFF)
            for index in 0..<16 { buckets[bucket][index] ^= hash[index] }
        }
        guard digest.buckets == buckets else {
            let differing = (0..<StateDigest.bucketCount).filter { digest.buckets[$0] != buckets[$0] }
            return "the digest does not match the stored slots (buckets \(differing.prefix(8)))"
        }
        return nil
    }
}
