import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// The store's WAL is copied into the file by `WALCheckpointer`, on a thread
/// of its own once a commit leaves the WAL past the threshold, never inside
/// the commit (SQLite's automatic checkpoint is off on the writer).
@Suite("WAL checkpoints off the writer", .serialized)
struct WALCheckpointerTests {
    func bytes(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0 }

    /// 300 agreements with 2 KB summaries: about 150 pages of WAL each 100 records.
    func write(_ count: Int, into store: Store, from first: Int = 0) throws {
        for index in first..<(first + count) {
            try store.create(ref("agreements/wal-\(index)"), [.set("title", .text("Agreement \(index)")), .set("status", .text("active")),
                                                             .set("summary", .text(String(repeating: "s", count: 2_000)))], author: "ana")
        }
    }

    @Test func aCheckpointRunsAfterTheCommitsOnItsOwnAndNeverWhilePaused() throws {
        let dir = TemporaryDirectory("wal-checkpointer")
        var options = Store.Options()
        options.walCheckpointPages = 100
        let store = try dir.store(options: options)
        let file = bytes(store.path)
        store.checkpointer.pause()
        try write(300, into: store)
        store.waitForCheckpoints()
        // Nothing copied: neither this checkpointer (paused) nor SQLite's automatic one (replaced).
        #expect(bytes(store.path) == file, "the file grew from \(file) to \(bytes(store.path)) bytes while checkpoints were paused")
        #expect(bytes(store.path + "-wal") > 100 * 4_096)
        // A commit crossed the threshold meanwhile: resuming checkpoints.
        store.checkpointer.resume()
        store.waitForCheckpoints()
        #expect(bytes(store.path) > file + 300 * 2_000, "the file is \(bytes(store.path)) bytes, \(file) before")
        // And commits schedule one again.
        let copied = bytes(store.path)
        try write(300, into: store, from: 300)
        store.waitForCheckpoints()
        #expect(bytes(store.path) > copied + 200 * 2_000)
        #expect(try store.record(ref("agreements/wal-599"))?.exists == true)
    }

    /// A checkpoint never makes a database: the file removed meanwhile (a
    /// store closed, a directory cleaned) stays removed.
    @Test func aCheckpointOfAFileThatIsGoneMakesNone() {
        let dir = TemporaryDirectory("wal-checkpointer-gone")
        let path = dir.path("gone.db")
        let checkpointer = WALCheckpointer(path: path, pages: 1)
        checkpointer.committed(walPages: 10)
        checkpointer.waitUntilIdle()
        #expect(!FileManager.default.fileExists(atPath: path))
        checkpointer.close()
        checkpointer.committed(walPages: 10)
        checkpointer.waitUntilIdle()
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
