import Crypto
import Foundation
import PropertyBased
import Testing
@testable import SyncCore
import TestSupport

/// `Store.apply` merges and encodes a batch on all cores (`BatchMerge`) and
/// stores it on one thread. These tests hold it to merging slot by slot.
@Suite("Batch merge over threads", .timeLimit(.minutes(3)))
struct BatchMergeTests {
    static let keys: [SlotKey] = (0..<40).flatMap { record in
        [SlotKey(collection: "agreements", record: "a\(record)", field: SlotKey.existsField),
         SlotKey(collection: "agreements", record: "a\(record)", field: "title"),
         SlotKey(collection: "agreements", record: "a\(record)", field: "signed_on"),
         SlotKey(collection: "agreements", record: "a\(record)", field: "parties", element: "countries/cn"),
         SlotKey(collection: "nowhere", record: "a\(record)", field: "title")]
    }

    /// Batches large enough to be split, over a pool of random states (so a
    /// local state often already holds the remote one): the outcome on two
    /// threads equals the outcome on one, and each equals merging, checking,
    /// encoding and hashing that slot alone.
    @Test func twoThreadsGiveTheOutcomeOfMergingSlotBySlot() async {
        // A batch is drawn from a seed and a size rather than generated element
        // by element: a failing case then shrinks in a few steps, not thousands.
        await propertyCheck(count: 15, input: Gen.int(in: 0...Int(UInt32.max)), Gen.int(in: 520...1_400), slotStateGen.array(of: 12...12)) { seed, size, pool in
            var random = UInt64(seed) &+ 1
            let numbers = (0..<size).map { _ in
                random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Int(random >> 33)
            }
            let changes = numbers.map { SlotChange(key: Self.keys[$0 % Self.keys.count], state: pool[$0 % 12]) }
            let locals = numbers.map { pool[($0 / 12) % 12] }
            let schema = Schema.criticalMinerals
            let split = BatchMerge.merge(changes, locals: locals, schema: schema, threads: 2)
            #expect(split == BatchMerge.merge(changes, locals: locals, schema: schema, threads: 1))
            #expect(split.count == changes.count)
            // One expectation per batch, naming the first slots that differ:
            // an issue per slot would make a failing case slow to shrink.
            var unchanged = 0
            var wrong: [Int] = []
            for index in changes.indices {
                let merged = SlotMerge.merge(locals[index], changes[index].state)
                guard let outcome = split[index] else {
                    if merged == locals[index] { unchanged += 1 } else { wrong.append(index) }
                    continue
                }
                var keyWriter = BinaryWriter()
                SlotStateCodec.encode(changes[index].key, into: &keyWriter)
                let keyBytes = keyWriter.bytes
                let stateBytes = SlotStateCodec.encode(merged)
                let hash = Array(SHA256.hash(data: keyBytes + stateBytes).prefix(StateDigest.hashSize))
                let expected = merged != locals[index]
                    && outcome.merged == merged
                    && outcome.unseen == SlotMerge.unseenVersions(in: changes[index].state, by: locals[index])
                    && outcome.problem == schema.problem(for: changes[index].key, state: merged)
                    && outcome.equalsRemote == (merged == changes[index].state)
                    && outcome.encoded.state == stateBytes
                    && outcome.encoded.hash.withUnsafeBytes({ Array($0) }) == hash
                    && outcome.encoded.bucket == keyBytes.withUnsafeBytes { StateDigest.bucket(forKeyBytes: $0) }
                if !expected { wrong.append(index) }
            }
            #expect(wrong.isEmpty, "slots whose outcome differs from merging them alone (of \(changes.count)): \(wrong.prefix(5))")
            #expect(unchanged > 0 && unchanged < changes.count)
        }
    }

    /// A batch that carries a slot twice (two replicas' concurrent writes of
    /// the same records, sent together; one replica's batch twice) and is
    /// large enough to be split: the later copy merges with what the earlier
    /// one stored, as if the two had come in separate batches.
    @Test func aSlotTwiceInOneSplitBatchMergesBothCopies() throws {
        let dir = TemporaryDirectory()
        let ana = try dir.store("ana.db")
        let bo = try dir.store("bo.db")
        let records = 150
        for n in 0..<records {
            try ana.create(ref("agreements/x\(n)"), [.set("title", .text("Ana's \(n)")), .add("parties", "countries/cn")], author: "ana")
            try bo.create(ref("agreements/x\(n)"), [.set("title", .text("Bo's \(n)")), .add("parties", "countries/au")], author: "bo")
        }
        let fromAna = try ana.changes(since: 0, maxCount: 100_000, maxBytes: 1 << 30).changes
        let fromBo = try bo.changes(since: 0, maxCount: 100_000, maxBytes: 1 << 30).changes
        #expect(fromAna.count + fromBo.count > 2 * BatchMerge.parallelThreshold)

        let together = try dir.store("together.db")
        let report = try together.apply(fromAna + fromBo + fromAna, from: nil)
        let apart = try dir.store("apart.db")
        try apart.apply(fromAna, from: nil)
        try apart.apply(fromBo, from: nil)

        #expect(report.changed == fromAna.count + fromBo.count, "each of Bo's slots adds a concurrent version")
        #expect(report.unchanged == fromAna.count, "Ana's second copy is already held")
        #expect(try together.digest() == apart.digest())
        #expect(try together.conflicts().count == records, "one title conflict a record")
        for n in [0, records / 2, records - 1] {
            let key = SlotKey(collection: "agreements", record: "x\(n)", field: "title")
            #expect(try together.slotState(key) == apart.slotState(key))
            #expect(try together.slotState(key).versions.count == 2)
        }
        try DigestBookkeepingTests.checkBookkeeping(of: together)
    }
}
