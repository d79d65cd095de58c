import Foundation
import GRDB
import Logging
import Testing
@testable import SyncCore
import TestSupport

/// A copied database never issues a dot that its original also issues
/// (replication-model §3.3, §7).
@Suite("Copied and restored databases take a new replica id", .timeLimit(.minutes(5)))
struct CopyDetectionTests {
    @Test func aCopiedFileTakesANewIdAtItsFirstOpenEvenOnTheSameDevice() throws {
        let dir = TemporaryDirectory()
        let original = try dir.store("one.db", deviceID: "DEV-A")
        try original.create(ref("countries/xx"), [.set("name", .text("One"))], author: "ana")
        let id = try original.replicaID
        // `cp one.db* …`: the file and its WAL, as a user copies a directory.
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: dir.path("one.db") + suffix) {
            try FileManager.default.copyItem(atPath: dir.path("one.db") + suffix, toPath: dir.path("two.db") + suffix)
        }
        for opened in [true, false] {  // read-only open (syncctl get) falls through to set-up
            var options = Store.Options()
            options.readOnly = opened
            let copy = try Store(path: dir.path("two.db"), deviceID: "DEV-A", options: options)
            #expect(try copy.replicaID != id)
        }
        let copy = try dir.store("two.db", deviceID: "DEV-A")
        let copyID = try copy.replicaID
        // Both write the same field: distinct dots, a conflict, equal digests.
        let a = try original.update(ref("countries/xx"), [.set("name", .text("A"))], author: "ana")
        let b = try copy.update(ref("countries/xx"), [.set("name", .text("B"))], author: "bo")
        #expect(a.dot != b.dot)
        #expect(b.dot?.replica == copyID)
        _ = try pull(into: original, from: copy)
        _ = try pull(into: copy, from: original)
        #expect(try original.digest() == copy.digest())
        #expect(try original.conflicts().map(\.key.field) == ["name"])
        // Reopening the same file keeps its id.
        #expect(try dir.store("two.db", deviceID: "DEV-A").replicaID == copyID)
    }

    @Test func aRestoreGivesTheStagedCopyItsNewIdBeforeItIsInPlace() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let snapshot = dir.url.appendingPathComponent("s.syncsnap")
        let before: ReplicaID
        do {  // Closed before the restore, which no open store may see (StoreUseLock).
            let (store, _) = try data.openStore(deviceID: "DEV-A")
            try store.create(ref("countries/xx"), [.set("name", .text("One"))], author: "ana")
            try Snapshots.create(from: store, to: snapshot)
            before = try store.replicaID
        }
        // The staged copy alone: its id is new and recorded with the
        // identity of the file it is copied into, which keeps it.
        let staged = dir.path("staged.db")
        let target = dir.path("target.db")
        try FileManager.default.copyItem(atPath: snapshot.path, toPath: staged)
        _ = FileManager.default.createFile(atPath: target, contents: nil)
        let stagedID = try Snapshots.prepareRestored(at: staged, from: "s", deviceID: "DEV-A", identity: FileIdentity.of(path: target),
                                                     wall: 1, random: Store.Options().random).replica
        #expect(stagedID != before)
        #expect(!FileManager.default.fileExists(atPath: staged + "-wal"))
        try DatabaseQueue(path: staged).backup(to: DatabaseQueue(path: target))
        #expect(try Store(path: target, deviceID: "DEV-A").replicaID == stagedID)
        // Moved elsewhere instead, it is a copy, and takes another id.
        try FileManager.default.moveItem(atPath: staged, toPath: dir.path("moved.db"))
        #expect(try Store(path: dir.path("moved.db"), deviceID: "DEV-A").replicaID != stagedID)
        // The whole restore.
        let outcome = try Snapshots.restore(snapshot, into: data, deviceID: "DEV-A")
        let (restored, aside) = (outcome.replica, outcome.keptAside)
        #expect(restored != before)
        #expect(aside != nil)
        #expect(try Store(path: data.databasePath, deviceID: "DEV-A").replicaID == restored)
    }

    @Test func aRestoreRefusesWhileAReaderBlocksTheCheckpointAndChangesNothing() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        _ = try data.openStore(deviceID: "DEV-A")
        // Opened as a program that knows nothing of the use lock would.
        let store = try Store(path: data.databasePath, deviceID: "DEV-A")
        let snapshot = dir.url.appendingPathComponent("s.syncsnap")
        try Snapshots.create(from: store, to: snapshot)
        try store.create(ref("countries/xx"), [.set("name", .text("after the snapshot"))], author: "ana")
        let replica = try store.replicaID
        // A reader (the sqlite3 shell, Datasette) in the middle of a read.
        let reader = try DatabaseQueue(path: data.databasePath)
        try reader.read { db in
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_records")
            try store.update(ref("countries/xx"), [.set("name", .text("while read"))], author: "ana")
            #expect(throws: SnapshotError.databaseBusy(data.databasePath)) {
                try Snapshots.restore(snapshot, into: data, deviceID: "DEV-A")
            }
        }
        #expect(try Store(path: data.databasePath, deviceID: "DEV-A").replicaID == replica)
        #expect(try store.record(ref("countries/xx"))?.value("name") == .text("while read"))
    }

    @Test func writesAfterTheSnapshotComeBackFromTheKeptAsideDatabase() throws {
        let dir = TemporaryDirectory()
        // Never synced to any peer: only the current file has it.
        let data = try restoredAfterUnsyncedWrites(in: dir.url) { try $0.create(ref("countries/xx"), [.set("name", .text("unsynced"))], author: "ana") }
        let restored = try Store(path: data.databasePath, deviceID: "DEV-A")
        #expect(try restored.record(ref("countries/xx")) == nil)
        Snapshots.mergeAndRemoveKeptAside(into: restored, logger: Logger(label: "test"))
        #expect(try restored.record(ref("countries/xx"))?.value("name") == .text("unsynced"))
        let left = try FileManager.default.contentsOfDirectory(atPath: data.path).filter { $0.hasPrefix(Snapshots.keptAsidePrefix) }
        #expect(left.isEmpty, "\(left)")
    }

    /// Two restores stamped with the same wall time (a clock set back): the
    /// second keeps its database aside under another name, and both come back.
    @Test func twoRestoresAtTheSameWallTimeKeepBothDatabasesAside() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let snapshot = dir.url.appendingPathComponent("s.syncsnap")
        do {
            let (store, _) = try data.openStore(deviceID: "DEV-A")
            try Snapshots.create(from: store, to: snapshot)
            try store.create(ref("countries/xx"), [.set("name", .text("first"))], author: "ana")
        }
        let frozen: @Sendable () -> UInt64 = { 1_767_225_600_000 }
        _ = try Snapshots.restore(snapshot, into: data, deviceID: "DEV-A", wallClock: frozen)
        do {
            let store = try Store(path: data.databasePath, deviceID: "DEV-A")
            try store.create(ref("countries/yy"), [.set("name", .text("second"))], author: "ana")
        }
        let second = try Snapshots.restore(snapshot, into: data, deviceID: "DEV-A", wallClock: frozen)
        #expect(second.keptAside?.lastPathComponent.hasSuffix("-2") == true, "\(String(describing: second.keptAside))")
        let restored = try Store(path: data.databasePath, deviceID: "DEV-A")
        Snapshots.mergeAndRemoveKeptAside(into: restored, logger: Logger(label: "test"))
        #expect(try restored.record(ref("countries/xx"))?.value("name") == .text("first"))
        #expect(try restored.record(ref("countries/yy"))?.value("name") == .text("second"))
    }

    /// `cp backup.db data.db` keeps the inode: the counter mark beside the
    /// file shows that the database went back in time.
    @Test func aFileOverwrittenInPlaceByAnOlderCopyTakesANewId() throws {
        let dir = TemporaryDirectory()
        let path = dir.path("data.db")
        let backup: Data
        let replica: ReplicaID
        do {
            let store = try Store(path: path, deviceID: "DEV-A")
            try store.create(ref("countries/xx"), [.set("name", .text("One"))], author: "ana")
            try store.withWriteTransaction { _ in }
            replica = try store.replicaID
        }
        try DatabaseQueue(path: path).writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        backup = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            let store = try Store(path: path, deviceID: "DEV-A")
            try store.update(ref("countries/xx"), [.set("name", .text("Two"))], author: "ana")
            try store.update(ref("countries/xx"), [.set("name", .text("Three"))], author: "ana")
        }
        try DatabaseQueue(path: path).writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let inode = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))  // in place, as cp does
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: backup)
        try handle.close()
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int == inode)
        var options = Store.Options()
        options.readOnly = true  // as `syncctl get` opens it first
        let reopened = try Store(path: path, deviceID: "DEV-A", options: options)
        #expect(try reopened.replicaID != replica)
        #expect(try reopened.record(ref("countries/xx"))?.value("name") == .text("One"))
        let next = try reopened.update(ref("countries/xx"), [.set("name", .text("after"))], author: "ana")
        #expect(next.dot?.replica != replica)
    }

    /// The mark keeps every id's counter, and a renewal retires the old id:
    /// a copy from just before a renewal (the file goes back to the earlier
    /// id, at the very counter the mark holds for it) is caught as well.
    @Test func anOverwriteByACopyFromBeforeARenewalTakesANewId() throws {
        let dir = TemporaryDirectory()
        let path = dir.path("data.db")
        let old: ReplicaID
        do {
            let store = try Store(path: path, deviceID: "DEV-A")
            try store.create(ref("countries/xx"), [.set("name", .text("One"))], author: "ana")
            old = try store.replicaID
        }
        try DatabaseQueue(path: path).writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let backup = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            let store = try Store(path: path, deviceID: "DEV-A")
            try store.startNewReplica(reason: "test")
            try store.update(ref("countries/xx"), [.set("name", .text("Three"))], author: "ana")
        }
        try DatabaseQueue(path: path).writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: backup)
        try handle.close()
        let reopened = try Store(path: path, deviceID: "DEV-A")
        #expect(try reopened.replicaID != old)
        #expect(try reopened.update(ref("countries/xx"), [.set("name", .text("after"))], author: "ana").dot?.replica != old)
    }

    /// Raised, never lowered, whatever order writers reach it in; one line
    /// per replica, newest last, at most `maxLines`.
    @Test func theCounterMarkIsOnlyRaised() throws {
        let dir = TemporaryDirectory()
        let path = dir.path("data.db")
        let a = ReplicaID(high: 1, low: 1), b = ReplicaID(high: 2, low: 2)
        DispatchQueue.concurrentPerform(iterations: 400) { index in
            try? CounterMark.write(a, UInt64((index * 7_919) % 400 + 1), for: path)
        }
        #expect(CounterMark.read(a, for: path) == 400)
        try CounterMark.write(b, 5, for: path)
        try CounterMark.write(a, 3, for: path)
        #expect(CounterMark.read(a, for: path) == 400)
        #expect(CounterMark.read(b, for: path) == 5)
        for n in 0..<(CounterMark.maxLines + 5) { try CounterMark.write(ReplicaID(high: 9, low: UInt64(n)), 1, for: path) }
        let text = try String(contentsOfFile: CounterMark.path(for: path), encoding: .utf8)
        #expect(CounterMark.marks(in: text).count == CounterMark.maxLines)
        #expect(CounterMark.read(a, for: path) == nil)
        // A mark that cannot be written says why; the write itself stands.
        try FileManager.default.removeItem(atPath: CounterMark.path(for: path))
        try FileManager.default.createDirectory(atPath: CounterMark.path(for: path), withIntermediateDirectories: false)
        #expect(throws: CounterMark.MarkError.self) { try CounterMark.write(a, 1, for: path) }
        let store = try Store(path: dir.path("other.db"))
        try FileManager.default.createDirectory(atPath: CounterMark.path(for: dir.path("other.db")), withIntermediateDirectories: false)
        #expect(try store.create(ref("countries/xx"), [.set("name", .text("kept"))], author: "ana").dot != nil)
        #expect(try store.record(ref("countries/xx"))?.value("name") == .text("kept"))
    }

    /// A restore killed between the hard link and the rename leaves a second
    /// name for the live file: it is removed, never opened as another database.
    @Test func aSecondNameOfTheLiveFileIsRemovedNotMerged() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        let aside = data.url.appendingPathComponent(Snapshots.keptAsidePrefix + "interrupted").path
        #expect(link(data.databasePath, aside) == 0)
        let digest = try store.digest()
        Snapshots.mergeAndRemoveKeptAside(into: store, logger: Logger(label: "test"))
        #expect(!FileManager.default.fileExists(atPath: aside))
        #expect(!FileManager.default.fileExists(atPath: aside + "-wal"))
        #expect(try store.digest() == digest)
    }
}
