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
}

extension Store {
    /// Slot states with `seq > cursor`, in seq order, bounded by count and bytes
    /// (always at least one slot when any remain). Cost: O(batch) via the seq index.
    ///
    /// - Parameter peer: the puller; a slot whose state is exactly what that peer
    ///   sent us is skipped (SPEC §4 echo suppression).
    public func changes(since cursor: UInt64, maxCount: Int, maxBytes: Int, for peer: ReplicaID? = nil) throws -> ChangeBatch {
        try pool.read { db in
            let statement = try db.cachedStatement(sql: """
                SELECT collection, record, field, element, state, seq, echo FROM sync_slots
                WHERE seq > ? ORDER BY seq LIMIT ?
                """)
            let rows = try Row.fetchCursor(statement, arguments: [Int64(bitPattern: cursor), maxCount + 1])
            var changes: [SlotChange] = []
            var examined = 0
            var bytes = 0
            var last = cursor
            var hasMore = false
            let peerData = peer?.data
            while let row = try rows.next() {
                if examined == maxCount {
                    hasMore = true
                    break
                }
                let seq = UInt64(bitPattern: row[5])
                if let peerData, let echo = row[6] as Data?, echo == peerData {
                    examined += 1
                    last = seq
                    continue
                }
                let key = SlotKey(collection: row[0], record: row[1], field: row[2], element: row[3])
                let blob: Data = row[4]
                let size = blob.count + key.collection.utf8.count + key.record.utf8.count + key.field.utf8.count + key.element.utf8.count
                if !changes.isEmpty, bytes + size > maxBytes {
                    hasMore = true
                    break
                }
                changes.append(SlotChange(key: key, state: try SlotState.stored(blob, key: key)))
                examined += 1
                last = seq
                bytes += size
            }
            return ChangeBatch(changes: changes, cursor: last, hasMore: hasMore, bytes: bytes)
        }
    }
}
