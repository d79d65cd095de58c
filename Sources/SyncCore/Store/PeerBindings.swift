import Foundation
import GRDB

/// What `bindPeer` found.
public enum PeerBinding: Equatable, Sendable {
    /// First time this replica was seen, or seen before with the same device.
    case accepted
    /// The id had been bound, without proof, to `previousDevice`; this device
    /// proved it (`ReplicaProof`), so the binding moves to it: the earlier
    /// device had presented an id it did not make.
    case reclaimed(previousDevice: String)
    /// The replica id is bound to another device: refuse the peer (replication-model §3.3).
    case conflicting(recordedDevice: String)
    /// The replica id is one this database had itself (now or before): a
    /// copy of our database, or a peer pretending to be us.
    case ours
}

extension Store {
    /// Binds `replica` to `device` (replication-model §3.3). An id the device
    /// `proven` to have made (protocol minor ≥ 2) is bound to it for good and
    /// takes over an earlier unproven binding; an unproven id (a peer older
    /// than minor 2) is bound first come, first bound, and refused when bound
    /// to another device.
    public func bindPeer(replica: ReplicaID, device: String, proven: Bool = false) throws -> PeerBinding {
        let wall = options.wallClock()
        return try pool.write { db in
            // Our current id, or one this device took before (a restore, a
            // renewal). Ids in the log from another device came with a copied
            // file: they are the original's, and the original may connect.
            let ownDevice = String.fromDatabaseValue(try db.meta(MetaKey.device))
            if try db.replicaID() == replica
                || (try Bool.fetchOne(db, sql: "SELECT 1 FROM sync_replica_log WHERE replica = ? AND device IS ?", arguments: [replica.data, ownDevice])) == true {
                return .ours
            }
            if let row = try Row.fetchOne(db, sql: "SELECT device, proven FROM sync_peer_devices WHERE replica = ?", arguments: [replica.data]) {
                let recorded: String = row[0]
                let recordedProven: Bool = row[1]
                if recorded.utf8.elementsEqual(device.utf8) {
                    if proven && !recordedProven {
                        try db.execute(sql: "UPDATE sync_peer_devices SET proven = 1 WHERE replica = ?", arguments: [replica.data])
                    }
                    return .accepted
                }
                guard proven, !recordedProven else { return .conflicting(recordedDevice: recorded) }
                // What the squatter left under this id is not the owner's: its
                // cursor (the owner's feed would be pulled from the wrong
                // place) and its echo marks (slots it sent would never be sent
                // to the owner). Both go, in the same transaction.
                try db.execute(sql: "UPDATE sync_peer_devices SET device = ?, proven = 1, echo_since = ? WHERE replica = ?",
                               arguments: [device, try Database.highestSeq(db), replica.data])
                try db.execute(sql: "DELETE FROM sync_cursors WHERE peer = ?", arguments: [replica.data])
                // And what we learned from the squatter's batches (about the
                // owner's feed, or passed on about others): none of it is
                // known to be true (replication-model §4.7).
                _ = try Self.forgetKnowledge(in: db)
                return .reclaimed(previousDevice: recorded)
            }
            try db.execute(sql: "INSERT INTO sync_peer_devices(replica, device, first_seen, proven) VALUES (?, ?, ?, ?)",
                           arguments: [replica.data, device, Int64(wall), proven])
            return .accepted
        }
    }

    /// Every slot in the given digest buckets (for digest repair). Scans the
    /// record table once; callers ask for a few buckets at a time.
    public func slots(inBuckets buckets: [UInt8]) throws -> [SlotChange] {
        var all: [SlotChange] = []
        var after: Int64 = 0
        while true {
            let page = try slots(inBuckets: buckets, afterRecord: after, maxCount: 10_000, maxBytes: 64 << 20)
            all += page.changes
            guard let next = page.next else { return all }
            after = next
        }
    }

    /// One page of the slots in `buckets`: records after row `afterRecord`,
    /// whole records, until at least `maxCount` slots or `maxBytes` of
    /// encoded states (or the end). `next`
    /// is where the following page starts, nil at the end. Pages need not
    /// be one snapshot: repair resends states, and merging is idempotent.
    public func slots(inBuckets buckets: [UInt8], afterRecord: Int64, maxCount: Int, maxBytes: Int) throws -> (changes: [SlotChange], next: Int64?) {
        guard !buckets.isEmpty else { return ([], nil) }
        return try pool.read { db in
            var changes: [SlotChange] = []
            var wanted = [Bool](repeating: false, count: StateDigest.bucketCount)
            for bucket in buckets { wanted[Int(bucket)] = true }
            var keyBytes = BinaryWriter(capacity: 128)
            var bytes = 0
            let rows = try Row.fetchCursor(db, sql: "SELECT id, collection, record, slots FROM sync_records WHERE id > ? ORDER BY id",
                                           arguments: [afterRecord])
            while let row = try rows.next() {
                let id: Int64 = row[0]
                let ref = RecordRef(collection: row[1], id: row[2])
                for (name, slot) in try StoredRecord.decode([UInt8](row[3] as Data), ref: ref) {
                    let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                    if wanted[StateDigest.bucket(of: key, scratch: &keyBytes)] {
                        changes.append(SlotChange(key: key, state: slot.state))
                        bytes += slot.encoded.count + 64
                    }
                }
                if changes.count >= maxCount || bytes >= maxBytes { return (changes, id) }
            }
            return (changes, nil)
        }
    }
}

extension Store {
    /// The device each known replica belongs to: our own, and every peer's
    /// that connected directly (replicas only seen through relays are absent).
    public func knownDevices() throws -> [ReplicaID: String] {
        let own = try replicaID
        let ownDevice = try deviceID
        return try pool.read { db in
            var devices: [ReplicaID: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT replica, device FROM sync_peer_devices") {
                if let replica = ReplicaID(bytes: [UInt8](row[0] as Data)) { devices[replica] = row[1] }
            }
            if let ownDevice { devices[own] = ownDevice }
            return devices
        }
    }
}
