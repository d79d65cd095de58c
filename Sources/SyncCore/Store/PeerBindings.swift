import Foundation
import GRDB

/// What `bindPeer` found.
public enum PeerBinding: Equatable, Sendable {
    /// First time this replica was seen, or seen before with the same device.
    case accepted
    /// The replica id was seen before with another device: refuse the peer (SPEC §3).
    case conflicting(recordedDevice: String)
}

extension Store {
    /// Records that `replica` belongs to `device`, or reports that it was seen with another device.
    public func bindPeer(replica: ReplicaID, device: String) throws -> PeerBinding {
        let wall = options.wallClock()
        return try pool.write { db in
            if let recorded = try String.fetchOne(db, sql: "SELECT device FROM sync_peer_devices WHERE replica = ?", arguments: [replica.data]) {
                return recorded == device ? .accepted : .conflicting(recordedDevice: recorded)
            }
            try db.execute(sql: "INSERT INTO sync_peer_devices(replica, device, first_seen) VALUES (?, ?, ?)",
                           arguments: [replica.data, device, Int64(wall)])
            return .accepted
        }
    }

    /// Every slot in the given digest buckets (for digest repair). Scans the
    /// record table once; callers ask for a few buckets at a time.
    public func slots(inBuckets buckets: [UInt8]) throws -> [SlotChange] {
        guard !buckets.isEmpty else { return [] }
        return try pool.read { db in
            var changes: [SlotChange] = []
            var wanted = [Bool](repeating: false, count: StateDigest.bucketCount)
            for bucket in buckets { wanted[Int(bucket)] = true }
            var keyBytes = BinaryWriter(capacity: 128)
            try db.forEachStoredRecord { ref, slots in
                for (name, slot) in slots {
                    let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                    if wanted[StateDigest.bucket(of: key, scratch: &keyBytes)] {
                        changes.append(SlotChange(key: key, state: slot.state))
                    }
                }
            }
            return changes
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
