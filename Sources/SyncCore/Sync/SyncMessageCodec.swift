import Foundation

/// Encodes and decodes `SyncMessage` payloads: one type byte, then fields
/// written with `BinaryWriter`. Decoding refuses unknown types and short or
/// malformed input, and ignores bytes after the last known field (a later
/// minor's additions). Fuzzed by `Fuzz/fuzz-frame` and `WireCodecTests`.
public enum SyncMessageCodec {
    enum Tag: UInt8 {
        case hello = 1, pull = 2, batch = 3, digestRequest = 4, digest = 5
        case repairRequest = 6, repairBatch = 7, ping = 8, pong = 9, goodbye = 10
        /// Protocol 1.1: a batch whose changes use `ChangeTableCodec`.
        case tabledBatch = 11
        /// Protocol 1.2: the replica proof's nonce.
        case replicaProof = 12
        /// Protocol 1.3: an invitation's id and secret.
        case invitationClaim = 13
        /// Protocol 1.3: signed revocations.
        case revocations = 14
        /// Protocol 1.5: join by snapshot.
        case snapshotPull = 15, snapshotChunk = 16, snapshotEnd = 17
        /// Protocol 1.6: what the sender holds of others' feeds.
        case knowledge = 18
    }

    /// Bytes of snapshot data one chunk may carry.
    public static let maxSnapshotChunkBytes = 4 << 20

    public static func encode(_ message: SyncMessage) -> [UInt8] {
        var writer = BinaryWriter(capacity: 64)
        switch message {
        case .hello(let hello):
            writer.writeByte(Tag.hello.rawValue)
            writer.writeVarint(UInt64(hello.protocolMajor))
            writer.writeVarint(UInt64(hello.protocolMinor))
            writer.writeReplica(hello.replica)
            writer.writeString(hello.deviceName)
            writer.writeString(hello.schemaHash)
            writer.writeByte((hello.willSend ? 1 : 0) | (hello.willReceive ? 2 : 0) | (hello.joinDecisionFollows ? 4 : 0))
            writer.writeVarint(hello.highestSeq)
            // 1.4: appended, so an older reader ignores it.
            if let lineage = hello.lineage {
                writer.writeString(lineage)
                // 1.5: after the lineage, always (so a later minor can append
                // after it); a seq of 0 says "not joined by snapshot".
                if let origin = hello.origin, origin.seq > 0 {
                    writer.writeVarint(origin.seq)
                    writer.writeReplica(origin.replica)
                } else {
                    writer.writeVarint(0)
                }
            }
        case .pull(let cursor, let maxCount, let maxBytes, let wait):
            writer.writeByte(Tag.pull.rawValue)
            writer.writeVarint(cursor)
            writer.writeVarint(UInt64(maxCount))
            writer.writeVarint(UInt64(maxBytes))
            writer.writeByte(wait ? 1 : 0)
        case .batch(let batch):
            writer.writeByte(batch.tabled ? Tag.tabledBatch.rawValue : Tag.batch.rawValue)
            writer.writeVarint(batch.cursor)
            writer.writeByte(batch.hasMore ? 1 : 0)
            writer.writeVarint(batch.highestSeq)
            if batch.tabled {
                ChangeTableCodec.encode(batch.changes, knowledge: batch.knowledge, into: &writer)
            } else {
                writeChanges(batch.changes, into: &writer)
            }
        case .digestRequest(let highestSeq):
            writer.writeByte(Tag.digestRequest.rawValue)
            writer.writeVarint(highestSeq)
        case .digest(let report):
            writer.writeByte(Tag.digest.rawValue)
            writer.writeVarint(report.highestSeq)
            writer.writeByte(report.caughtUp ? 1 : 0)
            writer.writeVarint(UInt64(report.buckets.count))
            for bucket in report.buckets { writer.writeBlob(bucket) }
        case .repairRequest(let buckets):
            writer.writeByte(Tag.repairRequest.rawValue)
            writer.writeBlob(buckets)
        case .repairBatch(let changes, let last):
            writer.writeByte(Tag.repairBatch.rawValue)
            writer.writeByte(last ? 1 : 0)
            writeChanges(changes, into: &writer)
        case .ping:
            writer.writeByte(Tag.ping.rawValue)
        case .pong:
            writer.writeByte(Tag.pong.rawValue)
        case .goodbye(let reason):
            writer.writeByte(Tag.goodbye.rawValue)
            writer.writeString(reason)
        case .replicaProof(let nonce):
            writer.writeByte(Tag.replicaProof.rawValue)
            writer.writeBlob(nonce)
        case .invitationClaim(let id, let secret):
            writer.writeByte(Tag.invitationClaim.rawValue)
            writer.writeBlob(id)
            writer.writeBlob(secret)
        case .revocations(let list):
            writer.writeByte(Tag.revocations.rawValue)
            writer.writeVarint(UInt64(list.count))
            for revocation in list {
                writer.writeRaw(revocation.device.bytes)
                writer.writeVarint(SignedRevocation.seconds(revocation.revokedAt))
                writer.writeString(revocation.reason)
                writer.writeBlob(revocation.caKeyID)
                writer.writeBlob(revocation.signature)
            }
        case .snapshotPull(let offset, let maxBytes):
            writer.writeByte(Tag.snapshotPull.rawValue)
            writer.writeVarint(offset)
            writer.writeVarint(UInt64(maxBytes))
        case .snapshotChunk(let chunk):
            writer.writeByte(Tag.snapshotChunk.rawValue)
            writer.writeVarint(chunk.offset)
            writer.writeVarint(chunk.total)
            writer.writeBlob(chunk.data)
            writer.writeBlob(chunk.sha256)
            writer.writeString(chunk.refusal)
        case .snapshotEnd(let reason):
            writer.writeByte(Tag.snapshotEnd.rawValue)
            writer.writeString(reason)
        case .knowledge(let entries):
            writer.writeByte(Tag.knowledge.rawValue)
            writer.writeKnowledgeWords(entries)
        }
        return writer.bytes
    }

    /// Slots one batch may carry: bounds what a frame decodes to and how
    /// long one apply holds the write lock (operations, "Limits"). An
    /// honest batch holds `batch.max_slots` (2,000), or one record's slots.
    public static let maxSlotsPerMessage = 100_000

    public static func decode(_ bytes: [UInt8]) throws(BinaryDecodingError) -> SyncMessage {
        var reader = BinaryReader(bytes)
        let tagByte = try reader.readByte()
        guard let tag = Tag(rawValue: tagByte) else { throw .malformed("unknown message type \(tagByte)", at: 0) }
        let message: SyncMessage
        switch tag {
        case .hello:
            let major = try reader.readVarint()
            let minor = try reader.readVarint()
            guard major <= UInt64(UInt16.max), minor <= UInt64(UInt16.max) else { throw .malformed("protocol version out of range", at: reader.offset) }
            let replica = try reader.readReplica()
            let name = try reader.readString()
            let schemaHash = try reader.readString()
            let flags = try reader.readByte()
            let highest = try reader.readVarint()
            // 1.4 appends the lineage; an older peer's hello ends here.
            var lineage: String?
            if reader.remaining > 0 {
                let start = reader.offset
                let length = try reader.readLength()
                guard length <= SchemaLineage.maxBytes else {
                    throw .malformed("lineage of \(length) bytes (limit \(SchemaLineage.maxBytes))", at: start)
                }
                guard let text = String(validating: try reader.readRaw(count: length), as: UTF8.self) else {
                    throw .malformed("lineage is not valid UTF-8", at: start)
                }
                lineage = text
            }
            // 1.5 appends the origin of a replica that joined by snapshot.
            var origin: JoinOrigin?
            if reader.remaining > 0 {
                let start = reader.offset
                let seq = try reader.readVarint()
                guard seq <= UInt64(Int64.max) else { throw .malformed("join origin seq \(seq) above 2^63-1", at: start) }
                if seq > 0 { origin = JoinOrigin(replica: try reader.readReplica(), seq: seq) }
            }
            var hello = SyncMessage.Hello(protocolMajor: UInt16(major), protocolMinor: UInt16(minor), replica: replica, deviceName: name,
                                          schemaHash: schemaHash, willSend: flags & 1 != 0, willReceive: flags & 2 != 0, highestSeq: highest,
                                          lineage: lineage)
            hello.joinDecisionFollows = flags & 4 != 0
            hello.origin = origin
            message = .hello(hello)
        case .pull:
            let cursor = try reader.readVarint()
            let count = try reader.readVarint()
            let bytes = try reader.readVarint()
            let wait = try reader.readByte()
            message = .pull(cursor: cursor, maxCount: UInt32(clamping: count), maxBytes: UInt32(clamping: bytes), wait: wait != 0)
        case .batch, .tabledBatch:
            let cursor = try reader.readVarint()
            let hasMore = try reader.readByte() != 0
            let highest = try reader.readVarint()
            let tabled = tag == .tabledBatch
            let (changes, knowledge) = tabled ? try ChangeTableCodec.decodeWithKnowledge(from: &reader) : (try readChanges(&reader), [])
            var batch = SyncMessage.Batch(changes: changes, cursor: cursor, hasMore: hasMore, highestSeq: highest, tabled: tabled)
            batch.knowledge = knowledge
            message = .batch(batch)
        case .digestRequest:
            message = .digestRequest(highestSeq: try reader.readVarint())
        case .digest:
            let highest = try reader.readVarint()
            let caughtUp = try reader.readByte() != 0
            let count = try reader.readVarint()
            guard count <= UInt64(StateDigest.bucketCount) else { throw .malformed("digest with \(count) buckets", at: reader.offset) }
            var buckets: [[UInt8]] = []
            for _ in 0..<count { buckets.append(try reader.readBlob()) }
            message = .digest(.init(buckets: buckets, highestSeq: highest, caughtUp: caughtUp))
        case .repairRequest:
            message = .repairRequest(buckets: try reader.readBlob())
        case .repairBatch:
            let last = try reader.readByte() != 0
            message = .repairBatch(changes: try readChanges(&reader), last: last)
        case .ping:
            message = .ping
        case .pong:
            message = .pong
        case .goodbye:
            message = .goodbye(reason: try reader.readString())
        case .replicaProof:
            let nonce = try reader.readBlob()
            guard nonce.count <= 64 else { throw .malformed("replica proof nonce of \(nonce.count) bytes", at: reader.offset) }
            message = .replicaProof(nonce: nonce)
        case .invitationClaim:
            let id = try reader.readBlob()
            let secret = try reader.readBlob()
            guard id.count <= 64, secret.count <= 64 else { throw .malformed("invitation claim of \(id.count)+\(secret.count) bytes", at: reader.offset) }
            message = .invitationClaim(id: id, secret: secret)
        case .revocations:
            let count = try reader.readVarint()
            guard count <= UInt64(RevocationList.maxEntries) else { throw .malformed("\(count) revocations in one message (limit \(RevocationList.maxEntries))", at: reader.offset) }
            guard count <= UInt64(reader.remaining / 36) else { throw .truncated(at: reader.offset) }
            var list: [SignedRevocation] = []
            for _ in 0..<count {
                let device = DeviceID(hash: Array(try reader.readRaw(count: 32)))
                let seconds = try reader.readVarint()
                guard seconds <= 1 << 40 else { throw .malformed("revocation time out of range", at: reader.offset) }
                let reason = try reader.readString()
                let key = try reader.readBlob()
                let signature = try reader.readBlob()
                guard reason.utf8.count <= SignedRevocation.maxReasonBytes, key.count == 32, signature.count <= SignedRevocation.maxSignatureBytes else {
                    throw .malformed("revocation field over its limit", at: reader.offset)
                }
                list.append(SignedRevocation(device: device, revokedAt: Date(timeIntervalSince1970: TimeInterval(seconds)), reason: reason,
                                             caKeyID: key, signature: signature))
            }
            message = .revocations(list)
        case .snapshotPull:
            let offset = try reader.readVarint()
            let maxBytes = try reader.readVarint()
            message = .snapshotPull(offset: offset, maxBytes: UInt32(clamping: maxBytes))
        case .snapshotChunk:
            let offset = try reader.readVarint()
            let total = try reader.readVarint()
            let data = try reader.readBlob()
            let sha = try reader.readBlob()
            let refusal = try reader.readString()
            guard data.count <= maxSnapshotChunkBytes, sha.count == 0 || sha.count == 32, refusal.utf8.count <= 1_024 else {
                throw .malformed("snapshot chunk over its limits (\(data.count) bytes of data, \(sha.count) of checksum, \(refusal.utf8.count) of reason)", at: reader.offset)
            }
            message = .snapshotChunk(SnapshotChunk(offset: offset, total: total, data: data, sha256: sha, refusal: refusal))
        case .snapshotEnd:
            let reason = try reader.readString()
            guard reason.utf8.count <= 1_024 else { throw .malformed("snapshot-end reason of \(reason.utf8.count) bytes", at: reader.offset) }
            message = .snapshotEnd(reason: reason)
        case .knowledge:
            message = .knowledge(try reader.readKnowledgeWords())
        }
        // Bytes after the fields this version knows are a later minor's
        // additions (docs/protocol.md, "Versions"): ignored, not refused.
        return message
    }

    static func writeChanges(_ changes: [SlotChange], into writer: inout BinaryWriter) {
        writer.writeVarint(UInt64(changes.count))
        for change in changes {
            SlotStateCodec.encode(change.key, into: &writer)
            SlotStateCodec.encode(change.state, into: &writer)
        }
    }

    static func readChanges(_ reader: inout BinaryReader) throws(BinaryDecodingError) -> [SlotChange] {
        let count = try reader.readVarint()
        guard count <= UInt64(maxSlotsPerMessage) else { throw .malformed("\(count) slots in one message (limit \(maxSlotsPerMessage))", at: reader.offset) }
        guard count <= UInt64(reader.remaining / 6) else { throw .truncated(at: reader.offset) }
        var changes: [SlotChange] = []
        changes.reserveCapacity(Int(count))
        for _ in 0..<count {
            let key = try SlotStateCodec.decodeKey(from: &reader)
            changes.append(SlotChange(key: key, state: try SlotStateCodec.decodeState(from: &reader)))
        }
        return changes
    }
}
