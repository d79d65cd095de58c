import Foundation

/// A slot's name within its record.
struct FieldElement: Hashable {
    let field: String
    let element: String

    static func == (lhs: FieldElement, rhs: FieldElement) -> Bool {
        UTF8Identity.equal(lhs.element, rhs.element) && UTF8Identity.equal(lhs.field, rhs.field)
    }

    func hash(into hasher: inout Hasher) {
        UTF8Identity.hash(field, into: &hasher)
        UTF8Identity.hash(element, into: &hasher)
    }

    /// Field bytes first, then element bytes.
    static func precedes(_ a: FieldElement, _ b: FieldElement) -> Bool {
        UTF8Identity.equal(a.field, b.field) ? UTF8Identity.less(a.element, b.element) : UTF8Identity.less(a.field, b.field)
    }
}

/// One slot as kept in its record's `sync_records` row.
struct StoredSlot {
    /// The seq that last changed this slot here (shared by the slots of a
    /// record that one transaction changed together).
    var seq: Int64
    /// The peer whose state this is exactly (echo suppression), if any.
    var echo: ReplicaID?
    /// Where another replica's feed had this state exactly (gossip without
    /// duplicates, replication-model §4.7); nil: ours, at `seq`.
    var origin: FeedOrigin? = nil
    /// Its live versions are not in `sync_history` (storage format 5,
    /// docs/architecture.md "History"): they were the slot's first state
    /// here, applied at `seq`, and go to history when the slot next changes.
    var historyPending = false
    /// The canonical encoding of `state`, so a row is rewritten without
    /// re-encoding the slots a transaction did not change.
    var encoded: ArraySlice<UInt8>
    var state: SlotState
}

/// The `slots` column of `sync_records`: a record's slots side by side.
///
/// Layout: varint count, then per slot: field, element (strings), seq
/// (varint), flags (bit 0: an echo replica follows; bit 1: an origin
/// follows; bit 2: the live versions are not in history yet, format 5;
/// bit 3: no hash follows, format 6; no other bit may be set), [echo
/// replica], [origin replica, origin seq (varint)], [hash (16 raw bytes),
/// written by builds before format 6 and skipped unread: the digest's
/// hashes are recomputed from the state wherever they are needed], state
/// (length-prefixed canonical encoding). docs/storage-format.md.
enum StoredRecord {
    /// Slots go in by field, then element, by bytes: a Dictionary's order
    /// differs per process, and the row's order is the order of its slots
    /// in the change feed and in batches (which a receiver stores in that
    /// order, splitting a record of many slots over seqs by it), so two
    /// replicas holding one state write one row.
    static func encode(_ slots: [FieldElement: StoredSlot], into writer: inout BinaryWriter) {
        writer.writeVarint(UInt64(slots.count))
        // The positions are sorted, not the pairs: a pair moved by the sort
        // is a slot copied, with a retain of everything it holds.
        let order = slots.indices.sorted { FieldElement.precedes(slots[$0].key, slots[$1].key) }
        for index in order {
            let (name, slot) = slots[index]
            writer.writeString(name.field)
            writer.writeString(name.element)
            writer.writeVarint(UInt64(slot.seq))
            writer.writeByte((slot.echo == nil ? 0 : 1) | (slot.origin == nil ? 0 : 2) | (slot.historyPending ? 4 : 0) | Self.noHash)
            if let echo = slot.echo { writer.writeReplica(echo) }
            if let origin = slot.origin {
                writer.writeReplica(origin.replica)
                writer.writeVarint(origin.seq)
            }
            writer.writeBlob(slot.encoded)
        }
    }

    /// Flag bit 3 (format 6): the slot's row holds no hash of its state.
    static let noHash: UInt8 = 8

    /// The slot count a row's bytes claim, bounded by what they can hold
    /// (a slot takes at least 7 bytes: two empty names, seq, flags, and a
    /// state of two counts behind its length) and by `maxReservedSlots`: a
    /// capacity to reserve, not a fact (a row of junk claiming 2^63 slots
    /// must not make a reader reserve memory for millions).
    static func slotCountBound(_ bytes: [UInt8]) -> Int {
        var reader = BinaryReader(bytes)
        guard let count = try? reader.readVarint() else { return 0 }
        return Int(min(count, UInt64(bytes.count / 7), UInt64(maxReservedSlots)))
    }

    /// The most slots reserved ahead of decoding a row (a larger record grows as usual).
    static let maxReservedSlots = 256

    /// Every slot of a stored row; a failure names the record.
    static func decode(_ bytes: [UInt8], ref: RecordRef) throws(StoreError) -> [FieldElement: StoredSlot] {
        var slots: [FieldElement: StoredSlot] = [:]
        slots.reserveCapacity(slotCountBound(bytes))
        try forEach(bytes, ref: ref) { name, slot in slots[name] = slot }
        return slots
    }

    /// Calls `body` for each slot of a stored row, in stored order.
    ///
    /// - Parameter include: given a slot's seq, echo peer and origin, whether to
    ///   decode it and call `body`; the state of a slot left out is skipped
    ///   undecoded (the change feed wants the few slots carrying one seq).
    static func forEach(_ bytes: [UInt8], ref: RecordRef, where include: ((Int64, ReplicaID?, FeedOrigin?) -> Bool)? = nil,
                        _ body: (FieldElement, StoredSlot) throws(StoreError) -> Void) throws(StoreError) {
        var reader = BinaryReader(bytes)
        var name = FieldElement(field: "", element: "")
        do {
            let count = try reader.readVarint()
            guard count <= UInt64(reader.remaining) else { throw BinaryDecodingError.truncated(at: reader.offset) }
            for _ in 0..<count {
                name = FieldElement(field: try reader.readString(), element: try reader.readString())
                let seq = try reader.readVarint()
                guard seq <= UInt64(Int64.max) else { throw BinaryDecodingError.malformed("seq out of range", at: reader.offset) }
                let flags = try reader.readByte()
                guard flags & ~15 == 0 else { throw BinaryDecodingError.malformed("unknown slot flags \(flags)", at: reader.offset) }
                let echo = flags & 1 == 1 ? try reader.readReplica() : nil
                var origin: FeedOrigin?
                if flags & 2 == 2 {
                    let replica = try reader.readReplica()
                    let originSeq = try reader.readVarint()
                    guard originSeq > 0, originSeq <= UInt64(Int64.max) else { throw BinaryDecodingError.malformed("origin seq out of range", at: reader.offset) }
                    origin = FeedOrigin(replica: replica, seq: originSeq)
                }
                if flags & Self.noHash == 0 { _ = try reader.readRaw(count: StateDigest.hashSize) }
                let length = try reader.readLength()
                if let include, !include(Int64(seq), echo, origin) {
                    _ = try reader.readRaw(count: length)
                    continue
                }
                let start = reader.offset
                let state = try SlotStateCodec.decodeState(from: &reader)
                guard reader.offset == start + length else { throw BinaryDecodingError.malformed("slot state length does not match", at: start) }
                try body(name, StoredSlot(seq: Int64(seq), echo: echo, origin: origin, historyPending: flags & 4 == 4,
                                          encoded: bytes[start..<reader.offset], state: state))
            }
            guard reader.isAtEnd else { throw BinaryDecodingError.malformed("trailing bytes after the slots", at: reader.offset) }
        } catch let error as BinaryDecodingError {
            throw .corruptSlot(SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element),
                               reason: error.description)
        } catch let error as StoreError {
            throw error
        } catch {
            throw .corruptSlot(SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element),
                               reason: "\(error)")
        }
    }

    /// Whether any scalar slot holds concurrent values (the row's `conflicted` flag).
    static func isConflicted(_ slots: [FieldElement: StoredSlot]) -> Bool {
        slots.contains { $0.key.element.isEmpty && SlotReader.scalar($0.value.state).isConflicted }
    }
}
