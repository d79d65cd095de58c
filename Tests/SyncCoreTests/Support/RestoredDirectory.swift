import Foundation
@testable import SyncCore

/// A data directory in `folder` whose store took a snapshot, then `write`
/// (writes no peer saw), then was restored from that snapshot: what
/// `write` did is only in the database the restore kept aside.
func restoredAfterUnsyncedWrites(in folder: URL, _ write: (Store) throws -> Void) throws -> DataDirectory {
    let data = DataDirectory(url: folder.appendingPathComponent("data"))
    let snapshot = folder.appendingPathComponent("s.syncsnap")
    do {
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        try Snapshots.create(from: store, to: snapshot)
        try write(store)
    }
    _ = try Snapshots.restore(snapshot, into: data, deviceID: "DEV-A")
    return data
}
