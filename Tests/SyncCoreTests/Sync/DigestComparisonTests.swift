import Testing
@testable import SyncCore
import TestSupport

/// When two digests may be compared (replication-model §4.5). The old check
/// read digest, seq and cursor separately and compared against a digest read
/// after the answer: a write during the round trip counted as a mismatch and
/// set off a full repair of the buckets.
@Suite("Digest comparison", .timeLimit(.minutes(3)))
struct DigestComparisonTests {
    private let buckets = [[UInt8]](repeating: [0], count: StateDigest.bucketCount)

    private func point(highest: UInt64, cursor: UInt64) -> Store.DigestPoint {
        Store.DigestPoint(digest: StateDigest(buckets: buckets), highestSeq: highest, cursor: cursor)
    }

    @Test func onlyStatesHoldingTheSameChangesAreCompared() {
        let report = SyncMessage.DigestReport(buckets: buckets, highestSeq: 40, caughtUp: true)
        #expect(DigestComparison.comparable(askedAt: 10, report: report, local: point(highest: 10, cursor: 40)))
        // A local write after the question: our digest has it, theirs cannot.
        #expect(!DigestComparison.comparable(askedAt: 10, report: report, local: point(highest: 11, cursor: 40)))
        // We have not merged everything they had when they answered.
        #expect(!DigestComparison.comparable(askedAt: 10, report: report, local: point(highest: 10, cursor: 39)))
        // They had not merged everything we had when we asked.
        #expect(!DigestComparison.comparable(askedAt: 10, report: .init(buckets: buckets, highestSeq: 40, caughtUp: false), local: point(highest: 10, cursor: 40)))
        // The empty answer a peer we do not send to gets.
        #expect(!DigestComparison.comparable(askedAt: 10, report: .init(buckets: [], highestSeq: 0, caughtUp: false), local: point(highest: 10, cursor: 40)))
    }

    @Test func aDigestPointIsOneConsistentRead() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.seed(SeedData.criticalMinerals())
        let peer = ReplicaID.random()
        try store.apply([], from: peer, cursor: 17)
        let point = try store.digestPoint(peer: peer)
        #expect(point.highestSeq == (try store.highestSeq()))
        #expect(point.cursor == 17)
        #expect(point.digest == (try store.digest()))
    }
}
