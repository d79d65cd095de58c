import Foundation
import GRDB

/// One page of the change feed.
public struct ChangeBatch: Sendable {
    public let changes: [SlotChange]
    /// The seq of the last slot examined: the puller's next cursor. Slots skipped
    /// as echoes still advance it.
    public let cursor: UInt64
    /// True when slots with a higher seq remain.
    public let hasMore: Bool
    /// Encoded size of the states in this batch.
    public let bytes: Int
    /// The highest seq when the batch was read (same read transaction): what
    /// the puller has read of us up to `cursor` it read while we were there.
    public var highest: UInt64 = 0
    /// Our knowledge (replication-model §4.7), read with the batch when it
    /// reached the highest seq and the puller speaks 1.6; empty otherwise.
    public var knowledge: [KnowledgeEntry] = []
    /// Slots left out because the puller's knowledge says it holds them.
    public var held = 0
    /// Those slots, when asked for (`listHeld`: the simulator checks them).
    public var heldBack: [SlotChange] = []
    /// Every change in it came unchanged from another replica (has a stored origin).
    public var relayedOnly = false
}

extension Store {
    /// Slot states with `seq > cursor`, in seq order, bounded by count and bytes
    /// (always at least one seq's slots when any remain; the slots sharing a
    /// seq are never split, so the cursor is always a whole seq). Cost:
    /// O(batch) via `sync_feed`, one record row read per seq; only the slots
    /// carrying that seq are decoded.
    ///
    /// - Parameter peer: the puller; a slot whose state is exactly what that peer
    ///   sent us is skipped (replication-model §4 echo suppression).
    /// - Parameter knowledge: what the puller said it holds (protocol 1.6);
    ///   a slot whose origin it covers is skipped too (§4.7), and each slot
    ///   carries its origin. Nil for an older puller: neither.
    public func changes(since cursor: UInt64, maxCount: Int, maxBytes: Int, for peer: ReplicaID? = nil,
                        knowledge: [ReplicaID: UInt64]? = nil, listHeld: Bool = false) throws -> ChangeBatch {
        try pool.read { db in
            let own = try db.replicaID()
            var held = 0
            var heldBack: [SlotChange] = []
            var groupHeldBack: [SlotChange] = []
            var slotHeld = false
            var anyOwn = false
            // Echo marks at or below `echoSince` were set by a device that
            // claimed the peer's id without proof (`Store.bindPeer`).
            let echoSince = try peer.map { peer in
                try Int64.fetchOne(db.cachedStatement(sql: "SELECT echo_since FROM sync_peer_devices WHERE replica = ?"), arguments: [peer.data]) ?? 0
            } ?? 0
            let statement = try db.cachedStatement(sql: """
                SELECT f.seq, r.collection, r.record, r.slots FROM sync_feed f JOIN sync_records r ON r.id = f.record_id
                WHERE f.seq > ? ORDER BY f.seq LIMIT ?
                """)
            let limit = maxCount + 1
            let rows = try Row.fetchCursor(statement, arguments: [Int64(bitPattern: cursor), limit])
            var changes: [SlotChange] = []
            var bytes = 0
            var last = cursor
            var hasMore = false
            var fetched = 0
            var group: [SlotChange] = []
            while let row = try rows.next() {
                fetched += 1
                let seq: Int64 = row[0]
                let ref = RecordRef(collection: row[1], id: row[2])
                let blob: Data = row[3]
                group.removeAll(keepingCapacity: true)
                var groupBytes = 0
                var groupHeld = 0
                var ownInGroup = false
                groupHeldBack.removeAll()
                try StoredRecord.forEach([UInt8](blob), ref: ref, where: { slotSeq, echo, origin in
                    guard slotSeq == seq, peer == nil || echo != peer || seq <= echoSince else { return false }
                    slotHeld = false
                    if let knowledge, GossipRules.pullerHolds(origin ?? FeedOrigin(replica: own, seq: UInt64(seq)), puller: peer,
                                                              knowledge: knowledge, own: own) {
                        groupHeld += 1
                        slotHeld = true
                        return listHeld
                    }
                    return true
                }) { name, slot in
                    let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                    if slotHeld { return groupHeldBack.append(SlotChange(key: key, state: slot.state, origin: slot.origin)) }
                    if slot.origin == nil { ownInGroup = true }
                    groupBytes += slot.encoded.count + ref.collection.utf8.count + ref.id.utf8.count
                        + name.field.utf8.count + name.element.utf8.count
                    group.append(SlotChange(key: key, state: slot.state,
                                            origin: knowledge == nil ? nil : slot.origin ?? FeedOrigin(replica: own, seq: UInt64(seq))))
                }
                if !changes.isEmpty, changes.count + group.count > maxCount || bytes + groupBytes > maxBytes {
                    hasMore = true
                    break
                }
                changes.append(contentsOf: group)
                held += groupHeld
                if ownInGroup { anyOwn = true }
                heldBack += groupHeldBack
                bytes += groupBytes
                last = UInt64(seq)
                if fetched == limit { hasMore = true }
            }
            var batch = ChangeBatch(changes: changes, cursor: last, hasMore: hasMore, bytes: bytes)
            batch.highest = UInt64(try Database.highestSeq(db))
            batch.held = held
            batch.heldBack = heldBack
            batch.relayedOnly = !changes.isEmpty && !anyOwn
            if knowledge != nil, !hasMore, last >= batch.highest {
                batch.knowledge = try Self.storedKnowledge(in: db)
            }
            return batch
        }
    }
}
