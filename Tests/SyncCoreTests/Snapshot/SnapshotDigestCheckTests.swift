import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// A snapshot is a file from anywhere (a backup disk, a copy sent by a
/// team-mate): the digest it records must be the one its slots make, or a
/// replica restored from it would never be seen equal to a peer holding the
/// same slots (replication-model §4, §7), and each slot's stored hash must
/// be the hash of its state.
@Suite("Snapshot verification: the digest its slots make")
struct SnapshotDigestCheckTests {
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

    /// The replica id and the digest of the data directory's database.
    func state(of data: DataDirectory) throws -> (ReplicaID, StateDigest) {
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        return (try store.replicaID, try store.digest())
    }

    @Test func aRecordedBucketDigestThatIsNotItsSlotsIsRefusedAndRestoresNothing() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        var flipped = -1
        let url = try snapshot(in: dir, data: data) { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT bucket, digest FROM sync_buckets WHERE digest != zeroblob(16) ORDER BY bucket LIMIT 1"))
            flipped = row[0]
            var digest: Data = row[1]
            digest[digest.startIndex] ^= 0x01
            try db.execute(sql: "UPDATE sync_buckets SET digest = ? WHERE bucket = ?", arguments: [digest, flipped])
        }
        let problems = try Snapshots.verify(url)
        #expect(problems == ["the digest of bucket \(flipped) is not the one its slots make"], "\(problems)")
        let before = try state(of: data)
        let error = #expect(throws: SnapshotError.self) { try Snapshots.restore(url, into: data, deviceID: "DEV-A") }
        #expect("\(error.map { "\($0)" } ?? "")".contains("is not the one its slots make"))
        let after = try state(of: data)
        #expect(after.0 == before.0 && after.1 == before.1, "the database as it was")
        #expect(Snapshots.keptAside(in: data.url).isEmpty)
    }

    @Test func aSlotWhoseStoredHashIsNotItsStatesIsRefused() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            // The same length, so the row still decodes canonically: only the hash can tell.
            var blob = try #require(try Data.fetchOne(db, sql: "SELECT slots FROM sync_records WHERE record = 'x3'"))
            let range = try #require(blob.range(of: Data("Country 3".utf8)))
            blob.replaceSubrange(range, with: Data("Countrz 3".utf8))
            try db.execute(sql: "UPDATE sync_records SET slots = ? WHERE record = 'x3'", arguments: [blob])
        }
        let problems = try Snapshots.verify(url)
        #expect(problems.contains("countries/x3.name: its stored hash is not the hash of its state"), "\(problems)")
        #expect(problems.contains { $0.hasPrefix("the digest of bucket") }, "\(problems)")
        #expect(throws: SnapshotError.self) { try Snapshots.restore(url, into: data, deviceID: "DEV-A") }
    }
}
