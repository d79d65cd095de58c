import Crypto
import Foundation
import GRDB

/// The digest of a replica's replicated state: equal on two replicas iff
/// their slot states are equal (up to hash collisions).
///
/// Slots fall into 256 buckets by a hash of their key; a bucket's digest is the
/// XOR of its slots' hashes, kept current by `SlotWriter`, so the whole digest
/// costs 256 rows to read, and two replicas can compare bucket by bucket.
public struct StateDigest: Hashable, Sendable, CustomStringConvertible {
    public static let bucketCount = 256
    static let hashSize = 16

    /// Each bucket's digest, `bucketCount` entries of `hashSize` bytes (zeros when empty).
    public let buckets: [[UInt8]]

    /// SHA-256 over the buckets in order, hex.
    public var hex: String {
        var hasher = SHA256()
        for bucket in buckets { hasher.update(data: bucket) }
        return Hex.encode(hasher.finalize())
    }

    public var description: String { hex }

    /// The buckets whose digests differ from `other`'s.
    public func differingBuckets(from other: StateDigest) -> [Int] {
        (0..<Self.bucketCount).filter { buckets[$0] != other.buckets[$0] }
    }

    /// FNV-1a of the encoded key, reduced to a bucket: fixed across platforms and builds.
    static func bucket(forKeyBytes bytes: UnsafeRawBufferPointer) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return Int((hash ^ (hash >> 32)) & 0xFF)
    }

    /// The bucket of a slot, by its canonical key encoding.
    ///
    /// - Parameter scratch: a buffer reused from call to call, so a scan of
    ///   every slot does not allocate one per slot.
    static func bucket(of key: SlotKey, scratch: inout BinaryWriter) -> Int {
        scratch.removeAll()
        SlotStateCodec.encode(key, into: &scratch)
        return scratch.bytes.withUnsafeBytes { bucket(forKeyBytes: $0) }
    }

    static func read(from db: Database) throws -> StateDigest {
        var buckets = [[UInt8]](repeating: [UInt8](repeating: 0, count: hashSize), count: bucketCount)
        for row in try Row.fetchAll(db, sql: "SELECT bucket, digest FROM sync_buckets") {
            let index: Int = row[0]
            if (0..<bucketCount).contains(index) { buckets[index] = [UInt8](row[1] as Data) }
        }
        return StateDigest(buckets: buckets)
    }
}

extension Store {
    /// The digest with the highest seq and one peer's cursor, read in one
    /// transaction so that all three describe the same state.
    public struct DigestPoint: Sendable {
        public let digest: StateDigest
        public let highestSeq: UInt64
        public let cursor: UInt64
    }

    public func digestPoint(peer: ReplicaID) throws -> DigestPoint {
        try pool.read { db in
            DigestPoint(digest: try StateDigest.read(from: db), highestSeq: UInt64(try Database.highestSeq(db)),
                        cursor: try db.cursor(for: peer))
        }
    }
}
