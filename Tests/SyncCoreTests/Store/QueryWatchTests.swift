import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// A watched query cannot hold the daemon: time, size and files are bounded.
@Suite("Watched queries are bounded")
struct QueryWatchTests {
    static func seeded() throws -> (TemporaryDirectory, Store) {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.seed(SeedData.criticalMinerals())
        return (dir, store)
    }

    @Test func anEndlessQueryIsStoppedAtItsDeadline() throws {
        let (dir, store) = try Self.seeded()
        _ = dir
        var limits = QueryWatch.Limits()
        limits.maxSeconds = 0.3
        let watch = try QueryWatch(path: store.path, sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c WHERE x < 0", limits: limits)
        let started = Date()
        #expect(throws: QueryWatch.WatchError.self) { try watch.start() }
        #expect(Date().timeIntervalSince(started) < 3)
    }

    @Test func stopInterruptsARunFromAnotherThread() throws {
        let (dir, store) = try Self.seeded()
        _ = dir
        let watch = try QueryWatch(path: store.path, sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c WHERE x < 0")
        // A thread of its own: the cooperative pool may be busy with other tests.
        Thread.detachNewThread { Thread.sleep(forTimeInterval: 0.2); watch.stop() }
        let started = Date()
        do { _ = try watch.start(); Issue.record("not stopped") } catch let error as QueryWatch.WatchError {
            #expect("\(error)".contains("stopped"))
        }
        #expect(Date().timeIntervalSince(started) < 3)
    }

    @Test func sizeAndFilesAreBounded() throws {
        let (dir, store) = try Self.seeded()
        #expect(throws: (any Error).self) { try QueryWatch(path: store.path, sql: "SELECT zeroblob(200000000) FROM countries").start() }
        var limits = QueryWatch.Limits()
        limits.maxBytes = 1_000
        #expect(throws: QueryWatch.WatchError.self) { try QueryWatch(path: store.path, sql: "SELECT * FROM agreements", limits: limits).start() }
        let other = dir.path("other.db")
        #expect(throws: (any Error).self) { try QueryWatch(path: store.path, sql: "ATTACH '\(other)' AS other").start() }
        #expect(throws: QueryWatch.WatchError.self) { try QueryWatch(path: store.path, sql: "DELETE FROM countries") }
        // Read-only to SQLite, yet they change the whole process.
        for pragma in ["PRAGMA hard_heap_limit=100000", "PRAGMA soft_heap_limit=1000", " /* c */ pragma table_info(countries)"] {
            #expect(throws: QueryWatch.WatchError.self, "\(pragma)") { try QueryWatch(path: store.path, sql: pragma) }
        }
        #expect(QueryWatch.firstKeyword("-- a\n /* b */ WITH x AS (SELECT 1) SELECT * FROM x") == "with")
        #expect(!FileManager.default.fileExists(atPath: other))
    }

    @Test func infiniteNumbersStillMakeALine() throws {
        let line = RowEventJSON.row([.real(.infinity), .real(-.infinity)], columns: ["a", "b"], at: Date(timeIntervalSince1970: 0)).line
        #expect(line.contains("\"a\":\"inf\"") && line.contains("\"b\":\"-inf\""), "\(line)")
    }
}
