import Crypto
import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// The digest is kept incrementally (docs/storage-format.md): each slot has a
/// hash and a bucket (made from its key and state; rows keep no hash since
/// format 6), each bucket the XOR of its slots' hashes. These
/// tests recompute all of it from the stored states after inserts, updates,
/// conflicts and merges, so a shortcut on the write path cannot drift from
/// the documented format.
@Suite("Digest bookkeeping against the documented format", .timeLimit(.minutes(3)))
struct DigestBookkeepingTests {
    @Test func hashesBucketsAndDigestMatchTheStatesAfterWritesAndMerges() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        let b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        // Updates of existing slots on both sides, a set member added and
        // removed, a delete against an edit: new rows, rewritten rows, conflicts.
        try a.update(ref("countries/cn"), [.set("notes", .text("from a"))], author: "ana")
        try b.update(ref("countries/cn"), [.set("notes", .text("from b"))], author: "ben")
        try a.create(ref("countries/no"), [.set("name", .text("Norway"))], author: "ana")
        try b.delete(ref("countries/cn"), author: "ben")
        try pull(into: b, from: a)
        try pull(into: a, from: b)
        #expect(try a.digest() == b.digest())
        #expect(try !a.conflicts().isEmpty)
        for store in [a, b] { try Self.checkBookkeeping(of: store) }
    }

    /// Every slot's hash is SHA-256(encoded key ‖ encoded state)[0..<16], its
    /// bucket the FNV fold of the key, and every bucket the XOR of its rows.
    static func checkBookkeeping(of store: Store) throws {
        try store.read { db in
            var expected = [[UInt8]](repeating: [UInt8](repeating: 0, count: StateDigest.hashSize), count: StateDigest.bucketCount)
            var slotCount = 0
            var scratch = BinaryWriter()
            try db.forEachStoredRecord { ref, slots in
                for (name, slot) in slots {
                    slotCount += 1
                    let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                    var writer = BinaryWriter()
                    SlotStateCodec.encode(key, into: &writer)
                    let keyBytes = writer.bytes
                    #expect(Array(slot.encoded) == SlotStateCodec.encode(slot.state), "stored encoding of \(key)")
                    let hash = Array(SHA256.hash(data: keyBytes + SlotStateCodec.encode(slot.state)).prefix(StateDigest.hashSize))
                    #expect(slot.recomputedHash(under: key, scratch: &scratch).hash.withUnsafeBytes { Array($0) } == hash, "hash of \(key)")
                    let bucket = keyBytes.withUnsafeBytes { StateDigest.bucket(forKeyBytes: $0) }
                    for index in hash.indices { expected[bucket][index] ^= hash[index] }
                }
            }
            #expect(slotCount > 100)
            #expect(try StateDigest.read(from: db) == StateDigest(buckets: expected))
        }
    }
}
