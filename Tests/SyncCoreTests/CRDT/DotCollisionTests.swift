import PropertyBased
import Testing
@testable import SyncCore
import TestSupport

/// A state like `slotState(from:)`, but some dots carry another content,
/// chosen by `salt`: what two databases sharing one replica id produce.
func collidingSlotState(from numbers: [Int], salt: Int) -> SlotState {
    let plain = slotState(from: numbers)
    let versions = plain.versions.map { version -> Version in
        guard (Int(version.dot.counter) + salt) % 3 == 0 else { return version }
        return Version(dot: version.dot, hlc: HLC(raw: version.hlc.raw &+ UInt64(salt % 2)), author: "copy\(salt % 4)",
                       value: .text("other \(salt % 5)"))
    }
    return SlotState(versions: versions, context: plain.context)
}

let collidingStateGen = zip(Gen.int(in: 0...1_000).array(of: 0...8), Gen.int(in: 0...11))
    .map { collidingSlotState(from: $0.0, salt: $0.1) }

@Suite("Dot collisions: one dot, two contents (replication-model §2.3)", .timeLimit(.minutes(3)))
struct DotCollisionTests {
    @Test func mergeStaysCommutativeAssociativeAndIdempotent() async {
        await propertyCheck(count: 600, input: collidingStateGen, collidingStateGen, collidingStateGen) { a, b, c in
            #expect(SlotMerge.merge(a, b) == SlotMerge.merge(b, a))
            #expect(SlotStateCodec.encode(SlotMerge.merge(a, b)) == SlotStateCodec.encode(SlotMerge.merge(b, a)))
            #expect(SlotMerge.merge(SlotMerge.merge(a, b), c) == SlotMerge.merge(a, SlotMerge.merge(b, c)))
            let ab = SlotMerge.merge(a, b)
            #expect(SlotMerge.merge(ab, ab) == ab)
            #expect(SlotMerge.merge(ab, a) == ab)
            #expect(ab.satisfiesInvariant)
        }
    }

    @Test func theGreaterEncodingWinsWhicheverSideItIsOn() {
        let dot = Dot(replica: replica(1), counter: 3)
        let low = Version(dot: dot, hlc: HLC(millis: 5, logical: 0), author: "ana", value: .text("a"))
        let high = Version(dot: dot, hlc: HLC(millis: 5, logical: 0), author: "ana", value: .text("b"))
        let a = SlotState(versions: [low], context: VersionContext())
        let b = SlotState(versions: [high], context: VersionContext())
        #expect(SlotMerge.merge(a, b).versions == [high])
        #expect(SlotMerge.merge(b, a).versions == [high])
        #expect(SlotMerge.collidingDots(a, b) == [dot])
        #expect(SlotMerge.collidingDots(a, a).isEmpty)
    }

    @Test func theStoreRecordsACollisionOnEitherSide() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.create(ref("countries/xx"), [.set("name", .text("Mine"))], author: "ana")
        let own = try store.replicaID
        let key = SlotKey(collection: "countries", record: "xx", field: "name")
        let local = try store.read { try $0.slotState(key) }
        let mine = try #require(local.versions.first)
        // The same dot with smaller and with greater content: both are collisions.
        for text in ["A", "Zzzzzz"] {  // encodings: shorter, then longer than "Mine" (length comes first)
            let theirs = Version(dot: mine.dot, hlc: mine.hlc, author: mine.author, value: .text(text))
            let report = try store.apply([SlotChange(key: key, state: SlotState(versions: [theirs], context: local.context))],
                                         from: replica(9), cursor: nil)
            #expect(report.dotCollisions == 1)
            #expect(report.renewedReplica == nil)
        }
        let stored = try store.read { try $0.slotState(key) }
        #expect(stored.versions.map(\.value) == [.text("Zzzzzz")])
        #expect(try store.replicaID == own)
        let recorded = try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sync_dot_collisions") }
        #expect(recorded == 1)
    }

    /// A resolution is checked against the listing's token: content that
    /// changed under the same dot must change it, or an analyst would
    /// supersede a version they never saw.
    @Test func theConflictTokenCoversContentNotOnlyDots() {
        let a = Version(dot: Dot(replica: replica(1), counter: 1), hlc: HLC(millis: 5, logical: 0), author: "ana", value: .text("a"))
        let b = Version(dot: Dot(replica: replica(2), counter: 1), hlc: HLC(millis: 6, logical: 0), author: "bo", value: .text("b"))
        let b2 = Version(dot: b.dot, hlc: b.hlc, author: b.author, value: .text("other"))
        #expect(SlotConflict.token(for: [a, b]) == SlotConflict.token(for: [b, a]))
        #expect(SlotConflict.token(for: [a, b]) != SlotConflict.token(for: [a, b2]))
    }
}
