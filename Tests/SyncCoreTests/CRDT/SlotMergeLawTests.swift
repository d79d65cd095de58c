import PropertyBased
import Testing
@testable import SyncCore

@Suite("Slot merge laws (replication-model §2)", .timeLimit(.minutes(3)))
struct SlotMergeLawTests {
    @Test func generatedStatesSatisfyTheInvariant() async {
        await propertyCheck(count: 300, input: slotStateGen) { state in
            #expect(state.satisfiesInvariant)
        }
    }

    @Test func mergeIsCommutative() async {
        await propertyCheck(count: 500, input: slotStateGen, slotStateGen) { a, b in
            #expect(SlotMerge.merge(a, b) == SlotMerge.merge(b, a))
        }
    }

    @Test func mergeIsAssociative() async {
        await propertyCheck(count: 500, input: slotStateGen, slotStateGen, slotStateGen) { a, b, c in
            #expect(SlotMerge.merge(SlotMerge.merge(a, b), c) == SlotMerge.merge(a, SlotMerge.merge(b, c)))
        }
    }

    @Test func mergeIsIdempotent() async {
        await propertyCheck(count: 500, input: slotStateGen, slotStateGen) { a, b in
            #expect(SlotMerge.merge(a, a) == a)
            let ab = SlotMerge.merge(a, b)
            #expect(SlotMerge.merge(ab, b) == ab)
            #expect(SlotMerge.merge(ab, a) == ab)
        }
    }

    @Test func mergeKeepsTheInvariant() async {
        await propertyCheck(count: 500, input: slotStateGen, slotStateGen) { a, b in
            #expect(SlotMerge.merge(a, b).satisfiesInvariant)
        }
    }

    @Test func encodingRoundTripsAndIsCanonical() async {
        await propertyCheck(count: 300, input: slotStateGen, slotStateGen) { a, b in
            let merged = SlotMerge.merge(a, b)
            let bytes = SlotStateCodec.encode(merged)
            #expect((try? SlotStateCodec.decodeState(bytes)) == merged)
            #expect(SlotStateCodec.encode(SlotMerge.merge(b, a)) == bytes)
        }
    }

    @Test func aLocalWriteSupersedesExactlyWhatItsWriterSaw() async {
        await propertyCheck(count: 300, input: slotStateGen, slotStateGen) { seen, unseen in
            let writer = replica(7)
            let version = Version(dot: Dot(replica: writer, counter: 1), hlc: HLC(millis: 9_999, logical: 0), author: "w", value: .text("new"))
            let written = SlotMerge.write(version, over: seen)
            let merged = SlotMerge.merge(written, unseen)
            // Everything the writer saw is gone; versions of `unseen` it never saw survive.
            for old in seen.versions { #expect(!merged.versions.contains(old)) }
            for other in unseen.versions where !seen.context.covers(other.dot) {
                #expect(merged.versions.contains(other))
            }
            #expect(merged.versions.contains(version))
        }
    }
}
