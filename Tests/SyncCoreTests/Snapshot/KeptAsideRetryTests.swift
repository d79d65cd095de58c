import Foundation
import GRDB
import Logging
import Testing
@testable import SyncCore
import TestSupport

/// A fold of a database kept aside that a full disk stopped is tried again
/// while the daemon runs, not left for the next session (replication-model
/// §7; the simulator's seed 1382).
@Suite("Kept-aside folds tried again", .timeLimit(.minutes(5)))
struct KeptAsideRetryTests {
    @Test func theWaitsDoubleFromFiveSecondsToFiveMinutesAndAFoldThatEndsOtherwiseStartsThemAgain() {
        var retry = KeptAsideRetry()
        let stopped = KeptAsideFold(stoppedByPassingFailure: ["a"])
        let waits = (0..<9).map { _ in retry.after(stopped) }
        #expect(waits == [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000])
        #expect(retry.after(KeptAsideFold()) == nil)
        #expect(retry.after(stopped) == 5_000)
        // A file that will not open is not tried again before the next session.
        #expect(retry.after(KeptAsideFold(keptForOtherReasons: ["b"])) == nil)
        #expect(retry.after(KeptAsideFold(stoppedByPassingFailure: ["a"], keptForOtherReasons: ["b"])) == 5_000)
    }

    /// A restore kept 300 unsynced records aside; the live store's disk is
    /// full when the fold runs.
    func restoredOnAFullDisk() throws -> (dir: TemporaryDirectory, data: DataDirectory, store: Store) {
        let dir = TemporaryDirectory()
        let data = try restoredAfterUnsyncedWrites(in: dir.url) { store in
            for number in 0..<300 {
                try store.create(ref("countries/x\(number)"), [.set("name", .text(String(repeating: "unsynced \(number) ", count: 20)))], author: "ana")
            }
        }
        let store = try Store(path: data.databasePath, deviceID: "DEV-A")
        try store.capFileGrowth(true)
        return (dir, data, store)
    }

    @Test func aFoldAFullDiskStoppedSaysSoAndGoesThroughOnceThereIsRoom() throws {
        let (dir, data, store) = try restoredOnAFullDisk()
        defer { withExtendedLifetime(dir) {} }
        let names = Snapshots.keptAside(in: data.url)
        #expect(names.count == 1)
        let stopped = Snapshots.mergeAndRemoveKeptAside(into: store, logger: Logger(label: "test"))
        #expect(stopped == KeptAsideFold(stoppedByPassingFailure: names))
        #expect(Snapshots.keptAside(in: data.url) == names)

        try store.capFileGrowth(false)
        #expect(Snapshots.mergeAndRemoveKeptAside(into: store, logger: Logger(label: "test")) == KeptAsideFold())
        #expect(Snapshots.keptAside(in: data.url).isEmpty)
        #expect(try store.record(ref("countries/x299"))?.value("name") == .text(String(repeating: "unsynced 299 ", count: 20)))
    }

    @Test func aFileThatIsNoDatabaseIsKeptForAnotherReason() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        try Data(repeating: 0x5A, count: 8_192).write(to: data.url.appendingPathComponent(Snapshots.keptAsidePrefix + "damaged"))
        #expect(Snapshots.mergeAndRemoveKeptAside(into: store, logger: Logger(label: "test")) == KeptAsideFold(keptForOtherReasons: [Snapshots.keptAsidePrefix + "damaged"]))
    }

    /// The daemon's driver: the session's fold stops on the full disk; once
    /// there is room, the retry (5 s later) merges it with no session asking.
    @Test func theDaemonTriesAgainWithNoSessionAsking() async throws {
        let (dir, data, store) = try restoredOnAFullDisk()
        defer { withExtendedLifetime(dir) {} }
        let folds = KeptAsideFolds(store: store, logger: Logger(label: "test"))
        await folds.fold(folds.clearedBySync())?.value
        #expect(Snapshots.keptAside(in: data.url).count == 1)
        try store.capFileGrowth(false)
        let retries = Task { await folds.retryWhenDue() }
        defer { retries.cancel() }
        let merged = try await eventually(timeout: .seconds(20), every: .milliseconds(100)) { Snapshots.keptAside(in: data.url).isEmpty }
        #expect(merged)
        #expect(try store.record(ref("countries/x0")) != nil)
    }

    /// A retry merges only the files the sync cleared: one kept aside
    /// since (a join's) waits for a sync of its own (replication-model §7).
    @Test func aRetryLeavesAFileKeptAsideSinceTheSyncForTheNextSync() async throws {
        let (dir, data, store) = try restoredOnAFullDisk()
        defer { withExtendedLifetime(dir) {} }
        let folds = KeptAsideFolds(store: store, logger: Logger(label: "test"))
        await folds.fold(folds.clearedBySync())?.value
        let first = try #require(Snapshots.keptAside(in: data.url).first)
        let later = Snapshots.keptAsidePrefix + "later"
        try FileManager.default.copyItem(atPath: data.url.appendingPathComponent(first).path, toPath: data.url.appendingPathComponent(later).path)
        try store.capFileGrowth(false)
        let retries = Task { await folds.retryWhenDue() }
        defer { retries.cancel() }
        let merged = try await eventually(timeout: .seconds(20), every: .milliseconds(100)) { Snapshots.keptAside(in: data.url) == [later] }
        #expect(merged, "\(Snapshots.keptAside(in: data.url))")
        // (Run by the retry's fold if that is still ending: then this returns at once.)
        await folds.fold(folds.clearedBySync())?.value
        #expect(try await eventually(timeout: .seconds(20), every: .milliseconds(100)) { Snapshots.keptAside(in: data.url).isEmpty })
    }

    /// A real full disk (a small tmpfs): the copy's open, not only the
    /// merge's writes, fails there; the fold says it was stopped by a
    /// passing failure, and goes through once there is room. A file that is
    /// no database, beside it, is not tried again however full the disk.
    @Test(.enabled(if: SmallDisk.available, "needs root to mount a small tmpfs"))
    func onARealFullDiskTheFoldIsStoppedForAPassingCause() throws {
        let disk = try #require(SmallDisk(megabytes: 24))
        let data = try restoredAfterUnsyncedWrites(in: disk.url) { try $0.create(ref("countries/xx"), [.set("name", .text("unsynced"))], author: "ana") }
        let store = try Store(path: data.databasePath, deviceID: "DEV-A")
        let names = Snapshots.keptAside(in: data.url)
        #expect(names.count == 1)
        let damaged = Snapshots.keptAsidePrefix + "damaged"
        try Data(repeating: 0x5A, count: 8_192).write(to: data.url.appendingPathComponent(damaged))
        // In WAL mode, as a join's copy is (or one a fold switched before
        // its merge failed): on a full disk its open fails making its WAL
        // index, with an I/O error, not SQLite's full.
        do {
            let queue = try DatabaseQueue(path: data.url.appendingPathComponent(names[0]).path)
            _ = try queue.writeWithoutTransaction { try String.fetchOne($0, sql: "PRAGMA journal_mode = WAL") }
            try queue.close()
        }
        // Fill what is left of the disk.
        let filler = disk.url.appendingPathComponent("filler")
        FileManager.default.createFile(atPath: filler.path, contents: nil)
        let handle = try FileHandle(forWritingTo: filler)
        for size in [64 << 10, 4 << 10, 512, 1] {
            let chunk = Data(count: size)
            while (try? handle.write(contentsOf: chunk)) != nil {}
        }
        let full = try handle.offset()
        // Nothing free, then 36 KiB (room for the WAL index, not for the
        // merge): twice each, as a retry meets it.
        for left in [UInt64(0), 36 << 10] {
            try handle.truncate(atOffset: full - left)
            for _ in 0..<2 {
                let warnings = Warnings()
                let stopped = Snapshots.mergeAndRemoveKeptAside(into: store, logger: warnings.logger)
                #expect(stopped == KeptAsideFold(stoppedByPassingFailure: names, keptForOtherReasons: [damaged]), "\(left) bytes left: \(warnings.list.withLock { $0 })")
            }
        }
        try? handle.close()
        #expect(Snapshots.keptAside(in: data.url) == (names + [damaged]).sorted())

        try FileManager.default.removeItem(at: filler)
        #expect(Snapshots.mergeAndRemoveKeptAside(into: store, logger: Logger(label: "test")) == KeptAsideFold(keptForOtherReasons: [damaged]))
        #expect(try store.record(ref("countries/xx"))?.value("name") == .text("unsynced"))
    }
}
