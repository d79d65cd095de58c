import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// Each batch within the limits, their merge not: the store refuses the
/// batch that would make it hold a state others refuse (replication-model §2.5).
@Suite("Limits on merged states and on decoding", .timeLimit(.minutes(3)))
struct MergedLimitTests {
    private let key = SlotKey(collection: "countries", record: "xx", field: "notes")

    private func state(_ replica: ReplicaID, text: String) -> SlotState {
        SlotState(versions: [Version(dot: Dot(replica: replica, counter: 1), hlc: HLC(millis: 1, logical: 0), author: "p", value: .text(text))],
                  context: VersionContext([(replica, 1)]))
    }

    @Test func twoLegalVersionsWhoseMergeIsTooLargeAreRefused() throws {
        let dir = TemporaryDirectory()
        var options = Store.Options()
        options.receiveLimits.maxSlotBytes = 3_000
        let store = try dir.store(options: options)
        let text = String(repeating: "v", count: 2_000)
        try store.apply([SlotChange(key: key, state: state(.random(), text: text))], from: .random())
        let before = try store.digest()
        #expect {
            try store.apply([SlotChange(key: key, state: state(.random(), text: text))], from: .random())
        } throws: { error in
            guard case StoreError.batchRefused(let refusal) = error else { return false }
            return refusal.reason.contains("merged")
        }
        #expect(try store.digest() == before)
        #expect(try store.slotState(key).versions.count == 1)
    }

    @Test func tooManyConcurrentVersionsAfterMergingAreRefused() throws {
        let dir = TemporaryDirectory()
        var options = Store.Options()
        options.receiveLimits.maxVersionsPerSlot = 3
        let store = try dir.store(options: options)
        for _ in 0..<3 { try store.apply([SlotChange(key: key, state: state(.random(), text: "x"))], from: .random()) }
        #expect(throws: StoreError.self) { try store.apply([SlotChange(key: key, state: state(.random(), text: "y"))], from: .random()) }
        #expect(try store.slotState(key).versions.count == 3)
    }

    @Test func aBatchOfMoreSlotsThanAnyHonestOneIsUndecodable() {
        var writer = BinaryWriter(capacity: 32)
        writer.writeByte(7)  // repair-batch
        writer.writeByte(1)
        writer.writeVarint(UInt64(SyncMessageCodec.maxSlotsPerMessage + 1))
        let bytes = writer.bytes + [UInt8](repeating: 0, count: 6 * (SyncMessageCodec.maxSlotsPerMessage + 1))
        #expect(throws: BinaryDecodingError.self) { try SyncMessageCodec.decode(bytes) }
    }

    @Test func repairPagesAreBoundedByBytesAndCoverEverySlotOnce() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.seed(SeedData.criticalMinerals())
        let buckets = (0...255).map { UInt8($0) }
        let all = try store.slots(inBuckets: buckets)
        var seen: [SlotKey] = []
        var after: Int64 = 0
        var pages = 0
        while true {
            let page = try store.slots(inBuckets: buckets, afterRecord: after, maxCount: 10_000, maxBytes: 2_000)
            pages += 1
            seen += page.changes.map(\.key)
            guard let next = page.next else { break }
            after = next
        }
        #expect(pages > 5)
        #expect(Set(seen) == Set(all.map(\.key)))
        #expect(seen.count == all.count)
    }
}
