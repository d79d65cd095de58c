import PropertyBased
import Testing
@testable import SyncCore

/// The slot-state decoder faces bytes from peers: arbitrary or corrupted input
/// must give a state that satisfies the invariant or an error, never a trap.
@Suite("Codec robustness", .timeLimit(.minutes(3)))
struct CodecRobustnessTests {
    @Test func randomBytesDecodeToAValidStateOrAnError() async {
        await propertyCheck(count: 5_000, input: Gen.uint8(in: 0...255).array(of: 0...120)) { bytes in
            if let state = try? SlotStateCodec.decodeState(bytes) {
                #expect(state.satisfiesInvariant)
                #expect(SlotStateCodec.encode(state) == bytes)  // only canonical bytes decode
            }
        }
    }

    @Test func corruptedEncodingsNeverTrap() async {
        await propertyCheck(count: 1_000, input: slotStateGen, Gen.int(in: 0...10_000), Gen.uint8(in: 0...255)) { state, position, byte in
            var bytes = SlotStateCodec.encode(state)
            guard !bytes.isEmpty else { return }
            bytes[position % bytes.count] = byte
            if let decoded = try? SlotStateCodec.decodeState(bytes) { #expect(decoded.satisfiesInvariant) }
            _ = try? SlotStateCodec.decodeState(Array(bytes.prefix(position % bytes.count)))
        }
    }

    @Test func valuesRoundTrip() async {
        await propertyCheck(count: 500, input: Gen.int64(in: .min ... .max), Gen.letterOrNumber.string(of: 0...20)) { number, text in
            for value in [Value.null, .bool(true), .bool(false), .int(number), .text(text)] {
                #expect((try? SlotStateCodec.decodeValue(SlotStateCodec.encode(value))) == value)
            }
        }
    }
}
