import Foundation
import GRDB
import Logging
import Testing
@testable import SyncCore
import TestSupport

/// What a start makes of the staging copy a join keeps aside
/// (`joining-aside-…`) when a crash or a power cut left it under that name
/// (replication-model §4.6): a whole copy becomes a database kept aside,
/// merged back after the next sync; a copy cut short is removed.
@Suite("Leftover join staging copies", .serialized)
struct JoinLeftoversTests {
    let logger = Logger(label: "test")

    /// A store in `dir/live` with one record written offline, still open.
    func liveStore(in dir: TemporaryDirectory) throws -> Store {
        try FileManager.default.createDirectory(atPath: dir.path("live"), withIntermediateDirectories: true)
        let store = try dir.store("live/data.db")
        try store.create(ref("agreements/offline"), [.set("title", .text("Written offline")), .set("status", .text("proposed"))], author: "ana")
        return store
    }

    @Test func aWholeCopyIsKeptAsideAndItsRecordsMergeBack() throws {
        let dir = TemporaryDirectory("leftover-whole")
        let live = try liveStore(in: dir)
        let data = URL(fileURLWithPath: dir.path("joiner"))
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        // The file and its WAL as the open store has them: the copy's last
        // commits are in the WAL only, as after a backup cut before it left WAL mode.
        let staging = data.appendingPathComponent(Store.joinAsideStagingPrefix + "A")
        try FileManager.default.copyItem(atPath: live.path, toPath: staging.path)
        try FileManager.default.copyItem(atPath: live.path + "-wal", toPath: staging.path + "-wal")
        #expect(((try FileManager.default.attributesOfItem(atPath: staging.path + "-wal")[.size] as? Int) ?? 0) > 0)

        let outcomes = Store.keepLeftoverJoinAsides(in: data, wall: 1_800_000_000_000, logger: logger)
        guard case .keptAside(let name) = outcomes.first, outcomes.count == 1 else { Issue.record("\(outcomes)"); return }
        #expect(name.hasPrefix(Snapshots.keptAsidePrefix))
        let left = try FileManager.default.contentsOfDirectory(atPath: data.path)
        #expect(left == [name], "\(left)")
        #expect(Snapshots.keptAside(in: data) == [name])

        // Merged into another store after a sync: the offline write is there.
        let other = try dir.store("joiner/data.db")
        #expect(try other.record(ref("agreements/offline")) == nil)
        Snapshots.mergeAndRemoveKeptAside(into: other, logger: logger)
        #expect(try other.record(ref("agreements/offline"))?.exists == true)
        #expect(Snapshots.keptAside(in: data).isEmpty)
        _ = live
    }

    @Test(arguments: ["empty", "garbage", "notAStore", "cutShort"])
    func aCopyThatIsNotAWholeStoreIsRemoved(_ kind: String) throws {
        let dir = TemporaryDirectory("leftover-\(kind)")
        let data = URL(fileURLWithPath: dir.path("joiner"))
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let staging = data.appendingPathComponent(Store.joinAsideStagingPrefix + kind)
        switch kind {
        case "empty":
            #expect(FileManager.default.createFile(atPath: staging.path, contents: Data()))
        case "garbage":
            #expect(FileManager.default.createFile(atPath: staging.path, contents: Data((0..<9_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })))
        case "notAStore":
            let queue = try DatabaseQueue(path: staging.path)
            try queue.write { db in try db.execute(sql: "CREATE TABLE t(x)") }
            try queue.close()
        default:
            // A backup's transaction cut short: the new file's pages written,
            // its hot journal beside it says they were never committed.
            // The store's bytes under the staging name, the empty file's
            // hot journal beside it: opening it rolls back to no store.
            let live = try liveStore(in: dir)
            try FileManager.default.copyItem(atPath: live.path, toPath: staging.path)
            try hotJournal(restoring: 0, pageSize: 4_096).write(to: URL(fileURLWithPath: staging.path + "-journal"))
        }
        let outcomes = Store.keepLeftoverJoinAsides(in: data, wall: 1_800_000_000_000, logger: logger)
        #expect(outcomes == [.removed(staging.lastPathComponent)])
        #expect(try FileManager.default.contentsOfDirectory(atPath: data.path).isEmpty)
    }

    /// A rollback journal that says the database had `restoring` pages before
    /// the transaction (SQLite's journal header, no page records: the file
    /// is cut back to that size on rollback).
    func hotJournal(restoring pages: UInt32, pageSize: UInt32) -> Data {
        var header = Data([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7])
        func be(_ value: UInt32) { header.append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]) }
        be(0)            // page records: none
        be(0x1234_5678)  // checksum nonce
        be(pages)        // database size before the transaction
        be(512)          // sector size
        be(pageSize)     // page size
        header.append(Data(count: 512 - header.count))
        return header
    }
}
