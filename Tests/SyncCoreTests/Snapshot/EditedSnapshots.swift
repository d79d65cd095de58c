import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// Snapshots changed by hand after they were taken, for the suites that
/// show what verification and restore make of them.
protocol EditedSnapshots {}

extension EditedSnapshots {
    /// A snapshot of a store of 20 countries; `edit` changes the file, and
    /// its manifest's checksum is rewritten after (as a file made by hand
    /// would carry one), so only the content checks can tell.
    func snapshot(in dir: TemporaryDirectory, data: DataDirectory, edit: (Database) throws -> Void) throws -> URL {
        let url = dir.url.appendingPathComponent("s.syncsnap")
        do {  // Closed before any restore, which no open store may see.
            let (store, _) = try data.openStore(deviceID: "DEV-A")
            for index in 0..<20 { try store.create(ref("countries/x\(index)"), [.set("name", .text("Country \(index)"))], author: "ana") }
            try Snapshots.create(from: store, to: url)
        }
        #expect(try Snapshots.verify(url) == [], "the snapshot as taken is sound")
        let queue = try DatabaseQueue(path: url.path)
        try queue.writeWithoutTransaction { db in try edit(db) }
        try queue.close()
        var manifest = try SnapshotManifest.load(for: url)
        manifest.sha256 = try SnapshotManifest.sha256(of: url)
        try manifest.write(beside: url)
        return url
    }

    /// A data directory and its snapshot edited by `statements`.
    func edited(_ statements: String...) throws -> (dir: TemporaryDirectory, data: DataDirectory, url: URL) {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            for sql in statements { try db.execute(sql: sql) }
        }
        return (dir, data, url)
    }

    /// The replica id and the digest of the data directory's database.
    func state(of data: DataDirectory) throws -> (ReplicaID, StateDigest) {
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        return (try store.replicaID, try store.digest())
    }
}
