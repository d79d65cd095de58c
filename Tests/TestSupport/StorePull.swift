import SyncCore

/// Pulls everything `source` has that `target` lacks, batch by batch, the way
/// the daemon does: each batch merged together with its cursor.
@discardableResult
public func pull(into target: Store, from source: Store, batchSize: Int = 100, maxBytes: Int = 1 << 20) throws -> Int {
    let sourceID = try source.replicaID
    let targetID = try target.replicaID
    var batches = 0
    while true {
        let cursor = try target.cursor(for: sourceID)
        let batch = try source.changes(since: cursor, maxCount: batchSize, maxBytes: maxBytes, for: targetID)
        if batch.cursor == cursor { return batches }
        try target.apply(batch.changes, from: sourceID, cursor: batch.cursor, peerHighest: batch.highest)
        batches += 1
        if !batch.hasMore { return batches }
    }
}
