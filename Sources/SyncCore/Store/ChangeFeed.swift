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
    public func changes(since cursor: UInt64, maxCount: Int, maxBytes: Int, for peer: ReplicaID? = nil) throws -> ChangeBatch {
        try pool.read { db in
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
                try StoredRecord.forEach([UInt8](blob), ref: ref, where: { $0 == seq && (peer == nil || $1 != peer || seq <= echoSince) }) { name, slot in
                    let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                    groupBytes += slot.encoded.count + ref.collection.utf8.count + ref.id.utf8.count
                        + name.field.utf8.count + name.element.utf8.count
                    group.append(SlotChange(key: key, state: slot.state))
                }
                if !changes.isEmpty, changes.count + group.count > maxCount || bytes + groupBytes > maxBytes {
                    hasMore = true
                    break
                }
                changes.append(contentsOf: group)
                bytes += groupBytes
                last = UInt64(seq)
                if fetched == limit { hasMore = true }
            }
            var batch = ChangeBatch(changes: changes, cursor: last, hasMore: hasMore, bytes: bytes)
            batch.highest = UInt64(try Database.highestSeq(db))
            return batch
        }
    }
}
