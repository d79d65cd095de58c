import Foundation
import GRDB
import Logging
import Synchronization
import Testing
@testable import SyncCore
import TestSupport

/// The store's WAL is copied into the file by `WALCheckpointer`, on a thread
/// of its own once a commit leaves the WAL past the threshold, never inside
/// the commit (SQLite's automatic checkpoint is off on the writer).
@Suite("WAL checkpoints off the writer", .serialized, .timeLimit(.minutes(3)))
struct WALCheckpointerTests {
    func bytes(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0 }

    /// `count` agreements with summaries of `size` bytes.
    func write(_ count: Int, into store: Store, from first: Int = 0, size: Int = 2_000) throws {
        for index in first..<(first + count) {
            try store.create(ref("agreements/wal-\(index)"), [.set("title", .text("Agreement \(index)")), .set("status", .text("active")),
                                                             .set("summary", .text(String(repeating: "s", count: size)))], author: "ana")
        }
    }

    /// A checkpoint held up (its thread blocked) holds up no commit: the
    /// writes past the threshold all return, then the checkpoint runs.
    @Test func aCommitNeverWaitsForTheCheckpoint() throws {
        let dir = TemporaryDirectory("wal-checkpointer-off")
        let gate = DispatchSemaphore(value: 0)
        let runs = Mutex(0)
        // Armed once the store is open (its setup may schedule one, which the open waits for).
        let armed = Mutex(false)
        var options = Store.Options()
        options.walCheckpointPages = 100
        options.beforeWALCheckpoint = { if armed.withLock({ $0 }) { runs.withLock { $0 += 1 }; gate.wait() } }
        let store = try dir.store(options: options)
        let file = bytes(store.path)
        armed.withLock { $0 = true }
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        Thread.detachNewThread {
            do { try write(400, into: store) } catch { failure.withLock { $0 = "\(error)" } }
            done.signal()
        }
        let returned = done.wait(timeout: .now() + 60) == .success
        gate.signal()
        if !returned { _ = done.wait(timeout: .now() + 60) }
        #expect(returned, "the writes waited for a blocked checkpoint")
        #expect(failure.withLock { $0 } == nil)
        #expect(runs.withLock { $0 } == 1, "one checkpoint scheduled while it was held up")
        // Let the ones scheduled since run.
        for _ in 0..<10 { gate.signal() }
        store.waitForCheckpoints()
        #expect(bytes(store.path) > file + 400 * 2_000)
    }

    /// Paused, nothing is copied — not even by SQLite's automatic checkpoint
    /// (1,000 pages), which the hook replaced; resumed, the missed one runs.
    @Test func pausedNothingIsCopiedEvenPastSQLitesThreshold() throws {
        let dir = TemporaryDirectory("wal-checkpointer-paused")
        let store = try dir.store()
        let file = bytes(store.path)
        store.checkpointer.pause()
        try write(300, into: store, size: 20_000)
        store.waitForCheckpoints()
        #expect(bytes(store.path + "-wal") > 1_000 * 4_096, "the WAL should pass SQLite's 1,000 pages")
        #expect(bytes(store.path) == file, "the file grew from \(file) to \(bytes(store.path)) bytes while checkpoints were paused")
        store.checkpointer.resume()
        store.waitForCheckpoints()
        #expect(bytes(store.path) > file + 300 * 20_000, "the file is \(bytes(store.path)) bytes, \(file) before")
        #expect(try store.record(ref("agreements/wal-299"))?.exists == true)
    }

    /// A reader on older pages keeps a checkpoint from copying the WAL; the
    /// commits after it do not schedule one each, only once the WAL has grown
    /// by the threshold again.
    @Test func aReaderHoldingTheWALDoesNotMakeEveryCommitCheckpoint() throws {
        let dir = TemporaryDirectory("wal-checkpointer-reader")
        let runs = Mutex(0)
        var options = Store.Options()
        options.walCheckpointPages = 100
        let armed = Mutex(false)
        options.beforeWALCheckpoint = { if armed.withLock({ $0 }) { runs.withLock { $0 += 1 } } }
        let store = try dir.store(options: options)
        armed.withLock { $0 = true }
        let reader = try DatabaseQueue(path: store.path)
        try reader.inDatabase { db in
            try db.beginTransaction(.deferred)
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_records")
            try write(200, into: store)              // past 100 pages: checkpoints that copy nothing
            store.waitForCheckpoints()
            let afterThreshold = runs.withLock { $0 }
            #expect(afterThreshold >= 1)
            // 40 small commits: one checkpoint per 100 pages they add to the WAL, not one each.
            let walBefore = bytes(store.path + "-wal")
            try write(40, into: store, from: 200, size: 100)
            store.waitForCheckpoints()
            let added = (bytes(store.path + "-wal") - walBefore) / 4_096
            let more = runs.withLock { $0 } - afterThreshold
            #expect(more <= added / 100 + 1 && more < 40, "\(more) checkpoints for 40 commits that added \(added) pages")
            try db.rollback()
        }
        try reader.close()
        let file = bytes(store.path)
        try write(200, into: store, from: 240)     // 100 pages more: copied now
        store.waitForCheckpoints()
        #expect(bytes(store.path) > file + 200 * 2_000)
    }

    /// Closing runs a checkpoint already scheduled, then schedules none; a
    /// checkpoint never makes a database whose file is gone.
    @Test func closingRunsTheScheduledOneThenNoneAndMakesNoFile() throws {
        let dir = TemporaryDirectory("wal-checkpointer-close")
        let path = dir.path("gone.db")
        let runs = Mutex(0)
        let gate = DispatchSemaphore(value: 0)
        let checkpointer = WALCheckpointer(path: path, pages: 1, logger: .init(label: "test"), beforeCheckpoint: { runs.withLock { $0 += 1 }; gate.wait() })
        checkpointer.committed(walPages: 10)
        while runs.withLock({ $0 }) == 0 { Thread.sleep(forTimeInterval: 0.001) }
        checkpointer.committed(walPages: 11)  // scheduled behind the one held up
        let closed = DispatchSemaphore(value: 0)
        Thread.detachNewThread { checkpointer.close(); closed.signal() }
        gate.signal()
        gate.signal()
        #expect(closed.wait(timeout: .now() + 30) == .success)
        #expect(runs.withLock { $0 } == 2, "the scheduled checkpoint ran before the close returned")
        checkpointer.committed(walPages: 20)
        checkpointer.waitUntilIdle()
        #expect(runs.withLock { $0 } == 2, "none after the close")
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(checkpointer.failures == 2, "both could not open the file")
    }
    /// Another connection's checkpoint running (SQLite runs one at a time)
    /// makes this one return at once: not a failure, logged as a warning
    /// only once it has happened `busyWarningAfter` times in a row, and the
    /// next checkpoint after it copies the WAL.
    @Test func anotherConnectionsCheckpointIsNoFailure() throws {
        let dir = TemporaryDirectory("wal-checkpointer-busy")
        let store = try dir.store()
        try write(5, into: store)
        let warnings = Warnings()
        let checkpointer = WALCheckpointer(path: store.path, pages: 1, logger: Logger(label: "test") { _ in WarningLog(warnings: warnings) })
        defer { checkpointer.close() }
        let holder = try DatabaseQueue(path: store.path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        let other = try DatabaseQueue(path: store.path, configuration: configuration)
        let tries = WALCheckpointer.busyWarningAfter + 2
        try holder.inDatabase { db in
            // A FULL checkpoint takes SQLite's checkpoint lock, then waits for this writer.
            try db.beginTransaction(.immediate)
            let ended = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                // SQLite answers busy at once when this one's passive checkpoint holds the lock: tried again.
                let started = Date()
                while true {
                    let busy = (try? other.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA wal_checkpoint(FULL)") }) ?? 1
                    if busy == 0 || Date().timeIntervalSince(started) > 20 { break }
                    Thread.sleep(forTimeInterval: 0.002)
                }
                ended.signal()
            }
            // Until the FULL checkpoint holds the lock (a loaded machine may start it late).
            var pages: Int32 = 0
            let deadline = Date().addingTimeInterval(20)
            while checkpointer.busy == 0, Date() < deadline {
                pages += 1
                checkpointer.committed(walPages: pages)
                checkpointer.waitUntilIdle()
                if checkpointer.busy == 0 { Thread.sleep(forTimeInterval: 0.01) }
            }
            // Not `#require`: the transaction is rolled back before the test ends either way.
            guard checkpointer.busy == 1 else {
                Issue.record("the other connection's checkpoint never held the lock")
                try db.rollback()
                return
            }
            for _ in 2...tries {
                pages += 1
                checkpointer.committed(walPages: pages)
                checkpointer.waitUntilIdle()
            }
            #expect(checkpointer.busy == tries)
            #expect(checkpointer.failures == 0)
            let logged = warnings.list.withLock { $0 }
            #expect(logged.count == 1, "\(logged)")
            #expect(logged.first?.contains("\(WALCheckpointer.busyWarningAfter) times in a row") == true, "\(logged)")
            try db.rollback()
            #expect(ended.wait(timeout: .now() + 30) == .success)
        }
        try write(5, into: store, from: 5)
        let wal = bytes(store.path + "-wal")
        checkpointer.committed(walPages: 1_000_000)
        checkpointer.waitUntilIdle()
        #expect(checkpointer.busy == tries && checkpointer.failures == 0)
        try write(1, into: store, from: 10)
        #expect(bytes(store.path + "-wal") <= wal, "the WAL started over: the last checkpoint copied it all")
    }
}
