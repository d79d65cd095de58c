import Foundation
import NIOCore
import NIOEmbedded
import PropertyBased
import Testing
@testable import SyncCore

/// Frames and messages as they cross the wire (replication-model §5, docs/protocol.md).
@Suite("Wire codec", .timeLimit(.minutes(3)))
struct WireCodecTests {
    static let changeGen = Gen.letterOrNumber.string(of: 1...12).map { SlotKey(collection: "countries", record: $0, field: "notes") }

    static func sampleMessages(_ states: [SlotState], _ text: String) -> [SyncMessage] {
        let changes = states.enumerated().map { SlotChange(key: SlotKey(collection: "countries", record: "r\($0.offset)\(text)", field: "notes"), state: $0.element) }
        return [
            .hello(.init(replica: replica(1), deviceName: text, schemaHash: "abc", willSend: true, willReceive: false, highestSeq: 42)),
            .hello(.init(replica: replica(2), deviceName: "d", schemaHash: "abc", willSend: false, willReceive: true, highestSeq: 1,
                         lineage: String(text.prefix(SchemaLineage.maxBytes / 4)))),
            .pull(cursor: 7, maxCount: 2_000, maxBytes: 1 << 20, wait: true),
            .batch(.init(changes: changes, cursor: 99, hasMore: !changes.isEmpty, highestSeq: 120)),
            .batch(.init(changes: changes + recordChanges(states, text), cursor: 99, hasMore: false, highestSeq: 120, tabled: true)),
            .digestRequest(highestSeq: 5),
            .digest(.init(buckets: [[1, 2, 3], Array(text.utf8)], highestSeq: 3, caughtUp: true)),
            .repairRequest(buckets: [0, 17, 255]),
            .repairBatch(changes: changes, last: true),
            .ping, .pong, .goodbye(reason: text), .replicaProof(nonce: Array(repeating: 5, count: 16)), .replicaProof(nonce: []),
            .invitationClaim(id: Array(1...8), secret: Array(repeating: 9, count: 16)),
            .revocations([SignedRevocation(device: DeviceID(spki: Array(text.utf8)), revokedAt: Date(timeIntervalSince1970: 1_800_000_000),
                                           reason: text, caKeyID: Array(repeating: 3, count: 32), signature: Array(repeating: 4, count: 70))]),
            .revocations([]),
            .hello(joiningHello(text)),
            .snapshotPull(offset: 3 << 20, maxBytes: 1 << 20),
            .snapshotChunk(SnapshotChunk(offset: 1 << 20, total: 5 << 20, data: Array(text.utf8))),
            .snapshotChunk(SnapshotChunk(offset: 0, total: UInt64(text.utf8.count), data: Array(text.utf8), sha256: Array(repeating: 7, count: 32))),
            .snapshotChunk(.refused("busy: " + text)),
            .snapshotEnd(reason: text),
            .batch(gossipBatch(changes, text)),
            .knowledge([KnowledgeWord(slot: 0, replica: replica(1), seq: 1), KnowledgeWord(slot: 1, replica: replica(9), seq: UInt64(Int64.max)),
                        KnowledgeWord(slot: 0, seq: 0)]),
            .knowledge([]),
        ]
    }

    /// A 1.6 batch: each change with its origin, and the sender's knowledge.
    static func gossipBatch(_ changes: [SlotChange], _ text: String) -> SyncMessage.Batch {
        let withOrigins = changes.enumerated().map { index, change in
            SlotChange(key: change.key, state: change.state, origin: FeedOrigin(replica: replica(index % 3 + 1), seq: UInt64(index + 1) << 20))
        }
        var batch = SyncMessage.Batch(changes: withOrigins, cursor: 99, hasMore: false, highestSeq: 99, tabled: true)
        batch.knowledge = [KnowledgeWord(slot: 2, replica: replica(7), seq: UInt64(text.utf8.count + 1)), KnowledgeWord(slot: 0, seq: 3)]
        return batch
    }

    /// A 1.5 hello: a join decision follows, and the sender joined by snapshot.
    static func joiningHello(_ text: String) -> SyncMessage.Hello {
        var hello = SyncMessage.Hello(replica: replica(3), deviceName: text, schemaHash: "abc", willSend: true, willReceive: true, highestSeq: 9,
                                      lineage: "critical-minerals")
        hello.joinDecisionFollows = true
        hello.origin = JoinOrigin(replica: replica(4), seq: 12_345)
        return hello
    }

    /// Several slots of one record, as a batch carries them (shared names and replicas).
    static func recordChanges(_ states: [SlotState], _ text: String) -> [SlotChange] {
        states.enumerated().map { SlotChange(key: SlotKey(collection: "agreements", record: "a-\(text)", field: "parties", element: "m\($0.offset % 2)"), state: $0.element) }
    }

    @Test func tabledBatchesCarryTheSameChangesInFewerBytes() async {
        await propertyCheck(count: 200, input: slotStateGen.array(of: 2...8), Gen.letterOrNumber.string(of: 8...30)) { states, text in
            let changes = Self.recordChanges(states, text)
            let plain = SyncMessage.batch(.init(changes: changes, cursor: 1, hasMore: false, highestSeq: 1))
            let tabled = SyncMessage.batch(.init(changes: changes, cursor: 1, hasMore: false, highestSeq: 1, tabled: true))
            guard case .batch(let decoded)? = try? SyncMessageCodec.decode(SyncMessageCodec.encode(tabled)) else {
                Issue.record("tabled batch did not decode")
                return
            }
            #expect(decoded.changes == changes)
            #expect(SyncMessageCodec.encode(tabled).count < SyncMessageCodec.encode(plain).count)
        }
    }

    @Test func tabledBatchIndexesOutsideTheirTablesAreRefused() throws {
        let state = slotState(from: [1, 2])
        let bytes = SyncMessageCodec.encode(.batch(.init(changes: [SlotChange(key: SlotKey(collection: "c", record: "r", field: "f"), state: state)],
                                                         cursor: 1, hasMore: false, highestSeq: 1, tabled: true)))
        // tag, cursor, hasMore, highest, replica table (count + 16 B each), string table, count, then the key's string indexes.
        var reader = BinaryReader(bytes)
        for _ in 0..<4 { _ = try reader.readVarint() }
        let replicas = Int(try reader.readVarint())
        _ = try reader.readRaw(count: 16 * replicas)
        let strings = Int(try reader.readVarint())
        for _ in 0..<strings { _ = try reader.readString() }
        _ = try reader.readVarint()
        var corrupt = bytes
        corrupt[reader.offset] = UInt8(strings)
        #expect(throws: BinaryDecodingError.self) { try SyncMessageCodec.decode(corrupt) }
    }

    @Test func everyMessageRoundTrips() async {
        await propertyCheck(count: 200, input: slotStateGen.array(of: 0...6), Gen.letterOrNumber.string(of: 0...30)) { states, text in
            for message in Self.sampleMessages(states, text) {
                #expect((try? SyncMessageCodec.decode(SyncMessageCodec.encode(message))) == message, "\(message.kind)")
            }
        }
    }

    @Test func arbitraryPayloadsDecodeOrFailWithoutTrapping() async {
        await propertyCheck(count: 5_000, input: Gen.uint8(in: 0...255).array(of: 0...200)) { bytes in
            if let message = try? SyncMessageCodec.decode(bytes) {
                #expect((try? SyncMessageCodec.decode(SyncMessageCodec.encode(message))) == message)
            }
        }
    }

    @Test func corruptedMessagesNeverTrap() async {
        await propertyCheck(count: 1_000, input: slotStateGen.array(of: 1...4), Gen.int(in: 0...100_000), Gen.uint8(in: 0...255)) { states, position, byte in
            for message in Self.sampleMessages(states, "x") {
                var bytes = SyncMessageCodec.encode(message)
                bytes[position % bytes.count] = byte
                _ = try? SyncMessageCodec.decode(bytes)
                _ = try? SyncMessageCodec.decode(Array(bytes.prefix(position % bytes.count)))
            }
        }
    }

    // MARK: framing

    func channel(maxFrameBytes: Int = 1_024) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameBytes: maxFrameBytes)))
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(FrameEncoder()))
        return channel
    }

    func framed(_ messages: [SyncMessage]) throws -> [UInt8] {
        let channel = try self.channel()
        var bytes: [UInt8] = []
        for message in messages {
            try channel.writeOutbound(message)
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += buffer.readableBytesView }
        }
        return bytes
    }

    @Test func framesSplitAtAnyPointDecodeTheSame() async throws {
        let messages = Self.sampleMessages([slotState(from: [1, 3, 5]), slotState(from: [2, 9])], "split")
        let bytes = try framed(messages)
        await propertyCheck(count: 100, input: Gen.int(in: 1...64)) { chunk in
            let channel = try! self.channel()
            var received: [SyncMessage] = []
            for start in stride(from: 0, to: bytes.count, by: chunk) {
                try! channel.writeInbound(ByteBuffer(bytes: bytes[start..<min(bytes.count, start + chunk)]))
                while let message = try! channel.readInbound(as: SyncMessage.self) { received.append(message) }
            }
            #expect(received == messages)
        }
    }

    @Test func anOversizedLengthIsRefusedBeforeItsPayloadArrives() throws {
        let channel = try self.channel(maxFrameBytes: 1_024)
        #expect(throws: FrameError.tooLarge(length: 1_025, limit: 1_024)) {
            try channel.writeInbound(ByteBuffer(bytes: [0, 0, 4, 1]))
        }
    }

    /// A later minor may append fields to a message (docs/protocol.md,
    /// "Versioning"): this reader takes what it knows and ignores the rest.
    @Test func trailingFieldsOfALaterMinorAreIgnored() throws {
        #expect(try SyncMessageCodec.decode([8, 0, 1, 2]) == .ping)
        let hello = SyncMessage.hello(.init(protocolMajor: 1, protocolMinor: 9, replica: ReplicaID(high: 1, low: 2), deviceName: "x",
                                            schemaHash: "h", willSend: true, willReceive: false, highestSeq: 7, lineage: "trade-desk"))
        #expect(try SyncMessageCodec.decode(SyncMessageCodec.encode(hello) + [0x42, 0x00]) == hello)
    }

    /// Protocol 1.4 appends the lineage to the hello: a 1.3 hello (no
    /// lineage) still decodes, as the shipped dataset's; a 1.3 reader
    /// decodes a 1.4 hello by ignoring the field; the field is bounded.
    @Test func theHelloLineageIsATrailingOptionalField() throws {
        let old = SyncMessage.Hello(protocolMinor: 3, replica: ReplicaID(high: 1, low: 2), deviceName: "x", schemaHash: "h",
                                    willSend: true, willReceive: true, highestSeq: 7)
        let oldBytes = SyncMessageCodec.encode(.hello(old))
        guard case .hello(let decodedOld) = try SyncMessageCodec.decode(oldBytes) else { Issue.record("no hello"); return }
        #expect(decodedOld.lineage == nil && HelloRules.lineage(of: decodedOld) == SchemaLineage.shipped)

        var new = old
        new.protocolMinor = SyncMessage.protocolMinor
        let plain = SyncMessageCodec.encode(.hello(new))
        for lineage in ["trade-desk", "", "r\u{E9}seau", String(repeating: "é", count: SchemaLineage.maxBytes / 2)] {
            new.lineage = lineage
            let bytes = SyncMessageCodec.encode(.hello(new))
            #expect(try SyncMessageCodec.decode(bytes) == .hello(new))
            // A 1.3 reader reads the fields it knows, which come first, unchanged.
            #expect(Array(bytes.prefix(plain.count)) == plain && bytes.count > plain.count)
        }
        // The decomposed spelling is another lineage, and survives the wire byte for byte.
        new.lineage = "re\u{301}seau"
        guard case .hello(let decomposed) = try SyncMessageCodec.decode(SyncMessageCodec.encode(.hello(new))) else { Issue.record("no hello"); return }
        #expect(Array(decomposed.lineage!.utf8) == Array("re\u{301}seau".utf8))

        new.lineage = String(repeating: "a", count: SchemaLineage.maxBytes + 1)
        #expect(throws: BinaryDecodingError.self) { try SyncMessageCodec.decode(SyncMessageCodec.encode(.hello(new))) }
        // Not UTF-8, or a length past the frame: refused.
        new.lineage = nil
        let base = SyncMessageCodec.encode(.hello(new))
        #expect(throws: BinaryDecodingError.self) { try SyncMessageCodec.decode(base + [2, 0xC3, 0x28]) }
        #expect(throws: BinaryDecodingError.self) { try SyncMessageCodec.decode(base + [9, 0x61]) }
    }

    /// A hello's join origin is a seq the store can hold: above 2^63-1 the
    /// hello does not decode (a receiver would otherwise store it as a cursor).
    @Test func aJoinOriginAboveTheLargestSeqIsRefused() throws {
        var hello = Self.joiningHello("x")
        hello.origin = JoinOrigin(replica: ReplicaID(high: 5, low: 6), seq: UInt64(Int64.max))
        #expect(try SyncMessageCodec.decode(SyncMessageCodec.encode(.hello(hello))) == .hello(hello))
        hello.origin = JoinOrigin(replica: ReplicaID(high: 5, low: 6), seq: UInt64(Int64.max) + 1)
        #expect(throws: BinaryDecodingError.self) { try SyncMessageCodec.decode(SyncMessageCodec.encode(.hello(hello))) }
    }

    @Test func unknownTypesAndGarbageAreUndecodable() throws {
        for payload: [UInt8] in [[0xEE], [3, 0xFF, 0xFF, 0xFF], [1, 1]] {
            let channel = try self.channel()
            #expect(throws: FrameError.self) {
                try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, UInt8(payload.count)] + payload))
            }
        }
        let channel = try self.channel()
        #expect(throws: FrameError.empty) { try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 0])) }
    }

    @Test func aConnectionEndingInsideAFrameIsReported() throws {
        let channel = try self.channel()
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 10, 8, 8, 8]))
        #expect(try channel.readInbound(as: SyncMessage.self) == nil)
        #expect(throws: FrameError.truncated(buffered: 7)) { _ = try channel.finish() }
    }
}
