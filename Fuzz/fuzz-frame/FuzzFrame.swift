// libFuzzer target: the wire decoders a peer's bytes go through.
//
// Each input is used twice:
//  1. as one message payload, given to `SyncMessageCodec.decode`;
//  2. as a byte stream, given to `FrameDecoder` (through NIO's
//     `ByteToMessageHandler` on an `EmbeddedChannel`, as `SyncNode` installs
//     it), once whole and once split in two at an input-dependent point.
//
// Invariants (a violation traps, which libFuzzer reports as a crash):
//  - decoding never traps, whatever the bytes;
//  - every decoded message re-encodes, and the re-encoding decodes to the
//    same message, byte for byte (texts compared by their UTF-8 bytes);
//  - where the codec is canonical, the re-encoding is the input itself
//    (the known non-canonical spots: boolean/flag bytes read as `!= 0`,
//    pull limits clamped to UInt32, the string and replica tables of a
//    tabled batch, and trailing bytes, which are a later minor's fields and
//    ignored);
//  - every slot state decoded satisfies `SlotState.satisfiesInvariant`, and
//    merging decoded states obeys the lattice laws (commutative, idempotent,
//    associative, byte for byte);
//  - the frame decoder yields the frames' payloads decoded one by one,
//    whether the stream arrives whole or in two pieces.
//
// Built with `-sanitize=fuzzer -DFUZZING` this is a libFuzzer binary; built
// without (plain `swift build`) it replays the files and directories given
// as arguments through the same checks.

import Foundation
import NIOCore
import NIOEmbedded
import FuzzSupport
import SyncCore

/// The frame limit of the channel under test (the daemon's default is 16 MiB;
/// small here so the limit itself is reachable). The first frame (the hello)
/// has the lower `FrameDecoder.helloFrameLimit`.
let maxFrameBytes = 1 << 18
let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] == "1"

func fuzzOne(_ input: [UInt8]) {
    checkPayload(input)
    checkStream(input)
}

// MARK: - payload

func checkPayload(_ bytes: [UInt8]) {
    let message: SyncMessage
    do { message = try SyncMessageCodec.decode(bytes) } catch {
        if verbose { print("payload: refused: \(error)") }
        return
    }
    if verbose { print("payload: \(message.kind) (\(states(of: message).count) slot states)") }
    checkDecoded(message, from: bytes)
}

/// The checks every decoded message must pass; `bytes` is what it was decoded from.
func checkDecoded(_ message: SyncMessage, from bytes: [UInt8]) {
    for state in states(of: message) {
        require(state.satisfiesInvariant, "decoded slot state breaks the invariant: \(state)", bytes)
    }
    let encoded = SyncMessageCodec.encode(message)
    let again: SyncMessage
    do { again = try SyncMessageCodec.decode(encoded) } catch {
        fail("re-encoded \(message.kind) does not decode: \(error)", bytes, extra: encoded)
    }
    require(again == message, "re-encoded \(message.kind) decodes to a different message", bytes, extra: encoded)
    require(SyncMessageCodec.encode(again) == encoded, "re-encoding of \(message.kind) is not stable", bytes, extra: encoded)
    require(plainBytes(again) == plainBytes(message), "\(message.kind) changes bytes through encode/decode (texts differ by UTF-8 bytes?)", bytes, extra: encoded)
    if encoded != bytes, !explainedDifference(message, input: bytes, encoded: encoded) {
        fail("\(message.kind) decodes from non-canonical bytes (re-encoding differs)", bytes, extra: encoded)
    }
    checkMergeLaws(states(of: message), bytes)
}

/// The message with a tabled batch turned into a plain one: a layout where
/// every text is written out, so equal bytes mean equal UTF-8 texts.
func plainBytes(_ message: SyncMessage) -> [UInt8] {
    if case .batch(var batch) = message, batch.tabled {
        batch.tabled = false
        return SyncMessageCodec.encode(.batch(batch))
    }
    return SyncMessageCodec.encode(message)
}

/// Whether a re-encoding that differs from the input is explained by a
/// documented non-canonical spot of the codec.
func explainedDifference(_ message: SyncMessage, input: [UInt8], encoded: [UInt8]) -> Bool {
    // A hello of minor 4 ends with its lineage; re-encoded, it gains the 1.5
    // origin's 0 ("not joined by snapshot").
    if case .hello(let hello) = message, hello.lineage != nil, hello.origin == nil, encoded.count == input.count + 1, encoded.last == 0 {
        return explainedDifference(message, input: input + [0], encoded: encoded)
    }
    // Bytes after the known fields are a later minor's additions: ignored.
    guard input.count >= encoded.count else { return false }
    let input = Array(input.prefix(encoded.count))
    if input == encoded { return true }
    switch message {
    case .batch(let batch) where batch.tabled:
        // Tables may list texts and replicas in any order, repeat them or
        // hold unused ones; what they decode to is checked above.
        return true
    case .pull(_, let maxCount, let maxBytes, _) where maxCount == .max || maxBytes == .max:
        return true  // clamped
    case .snapshotPull(_, let maxBytes) where maxBytes == .max:
        return true  // clamped
    case .hello, .pull, .batch, .digest, .repairBatch:
        // Booleans are read as `byte != 0`, hello flags as bits 0, 1 and 2 (1.5).
        for (a, b) in zip(input, encoded) where a != b {
            guard b == 1 && a > 1 || b == a & 7 else { return false }
        }
        return true
    default:
        return false
    }
}

func states(of message: SyncMessage) -> [SlotState] {
    switch message {
    case .batch(let batch): batch.changes.map(\.state)
    case .repairBatch(let changes, _): changes.map(\.state)
    default: []
    }
}

/// Join-semilattice laws of `SlotMerge.merge` on (up to 4) decoded states,
/// compared by canonical encoding.
func checkMergeLaws(_ states: [SlotState], _ bytes: [UInt8]) {
    let some = Array(states.prefix(4))
    func enc(_ state: SlotState) -> [UInt8] { SlotStateCodec.encode(state) }
    for a in some {
        require(enc(SlotMerge.merge(a, a)) == enc(a), "merge is not idempotent", bytes)
    }
    for (i, a) in some.enumerated() {
        for b in some[(i + 1)...] {
            let ab = SlotMerge.merge(a, b)
            require(ab.satisfiesInvariant, "merged state breaks the invariant", bytes)
            require(enc(ab) == enc(SlotMerge.merge(b, a)), "merge is not commutative", bytes)
            require(enc(SlotMerge.merge(ab, b)) == enc(ab), "merge(merge(a, b), b) != merge(a, b)", bytes)
        }
    }
    if some.count >= 3 {
        let (a, b, c) = (some[0], some[1], some[2])
        require(enc(SlotMerge.merge(SlotMerge.merge(a, b), c)) == enc(SlotMerge.merge(a, SlotMerge.merge(b, c))),
                "merge is not associative", bytes)
    }
}

// MARK: - stream

/// What a channel made of the bytes: the messages, then the error if any.
struct StreamOutcome: Equatable {
    var messages: [SyncMessage] = []
    var error: String?
}

func checkStream(_ bytes: [UInt8]) {
    let whole = feed([bytes[...]])
    let cut = bytes.isEmpty ? 0 : Int(bytes.reduce(UInt32(0)) { $0 &* 31 &+ UInt32($1) } % UInt32(bytes.count + 1))
    let split = feed([bytes[..<cut], bytes[cut...]])
    require(whole == split, "frame decoder gives different results when the stream is split at \(cut): \(whole) vs \(split)", bytes)
    require(whole == expectedStream(bytes), "frame decoder disagrees with decoding the frames one by one: \(whole)", bytes)
    if verbose { print("stream: \(whole.messages.map(\.kind)) then \(whole.error ?? "clean end")") }
    for message in whole.messages {
        // The payload of each frame was checked by `expectedStream`; check the
        // message itself too.
        checkDecoded(message, from: SyncMessageCodec.encode(message))
    }
}

func feed(_ pieces: [ArraySlice<UInt8>]) -> StreamOutcome {
    let channel = EmbeddedChannel()
    var outcome = StreamOutcome()
    do {
        // A fixed clock: the frame deadline never runs out within one input.
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(
            FrameDecoder(maxFrameBytes: maxFrameBytes, now: { NIODeadline.uptimeNanoseconds(0) })))
    } catch {
        fatalError("cannot set up the channel: \(error)")
    }
    func drain() {
        while let message = try? channel.readInbound(as: SyncMessage.self) { outcome.messages.append(message) }
    }
    do {
        for piece in pieces where !piece.isEmpty {
            try channel.writeInbound(ByteBuffer(bytes: piece))
            drain()
        }
        _ = try channel.finish()
        drain()
    } catch {
        drain()
        outcome.error = "\(error)"
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
    return outcome
}

/// The outcome the frame decoder should have: 4-byte big-endian lengths,
/// each payload decoded by `SyncMessageCodec`, the first problem ends it.
func expectedStream(_ bytes: [UInt8]) -> StreamOutcome {
    var outcome = StreamOutcome()
    var offset = 0
    while true {
        let left = bytes.count - offset
        if left == 0 { return outcome }
        if left < 4 {
            outcome.error = "\(FrameError.truncated(buffered: left))"
            return outcome
        }
        let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
        let limit = offset == 0 ? min(maxFrameBytes, FrameDecoder.helloFrameLimit) : maxFrameBytes
        if length == 0 { outcome.error = "\(FrameError.empty)"; return outcome }
        if length > limit { outcome.error = "\(FrameError.tooLarge(length: length, limit: limit))"; return outcome }
        if left < 4 + length { outcome.error = "\(FrameError.truncated(buffered: left))"; return outcome }
        let payload = Array(bytes[offset + 4..<offset + 4 + length])
        do {
            outcome.messages.append(try SyncMessageCodec.decode(payload))
        } catch {
            outcome.error = "\(FrameError.undecodable(error.description))"
            return outcome
        }
        offset += 4 + length
    }
}

// MARK: - reporting

func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, _ input: [UInt8], extra: [UInt8]? = nil) {
    if !condition() { fail(message(), input, extra: extra) }
}


func fail(_ message: String, _ input: [UInt8], extra: [UInt8]? = nil) -> Never {
    FuzzDriver.fail("fuzz-frame", String(message.prefix(2_000)), input, extra: extra)
}

func hex(_ bytes: [UInt8]) -> String { FuzzDriver.hex(bytes) }

@main
enum FuzzMain {
    static func main() { FuzzDriver.run(fuzzOne) }
}
