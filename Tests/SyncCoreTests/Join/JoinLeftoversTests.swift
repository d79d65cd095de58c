import Foundation
import GRDB
import Logging
import Testing
@testable import SyncCore
import SyncSimulation
import TestSupport

/// What a start makes of the staging copy a join keeps aside
/// (`joining-aside-…`) when a crash or a power cut left it under that name
/// (replication-model §4.6): a whole copy becomes a database kept aside,
/// merged back after the next sync; a copy cut short is removed.
@Suite("Leftover join staging copies", .serialized)
struct JoinLeftoversTests {
    let logger = Logger(label: "test")

    /// Copies `store`'s WAL into its file, so the file alone holds every commit.
    func fold(_ store: Store) throws { try store.pool.writeWithoutTransaction { try $0.truncateWAL() } }

    /// A store in `dir/live` with one record written offline, still open.
    func liveStore(in dir: TemporaryDirectory) throws -> Store {
        try FileManager.default.createDirectory(atPath: dir.path("live"), withIntermediateDirectories: true)
        let store = try dir.store("live/data.db")
        try store.create(ref("agreements/offline"), [.set("title", .text("Written offline")), .set("status", .text("proposed"))], author: "ana")
        return store
    }

    /// Marks the copy at `path` whole, as the join's copy marks itself in its last transaction.
    func markWhole(_ path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.setMeta(MetaKey.joinAsideComplete, 1) }
        try queue.close()
    }

    /// A whole copy, marked so or not (a copy whose marking a crash cut
    /// short): kept aside, and its offline write merges back.
    @Test(arguments: [true, false])
    func aWholeCopyIsKeptAsideAndItsRecordsMergeBack(marked: Bool) throws {
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
        // (Marking it folds the WAL in, as the join's copy has none.)
        if marked { try markWhole(staging.path) }

        let outcomes = Store.keepLeftoverJoinAsides(in: data, liveReplica: try live.replicaID, wall: 1_800_000_000_000, logger: logger)
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

    /// The join did not commit, and a power cut took the live WAL's tail,
    /// which the copy (a backup, synced) still holds — under its staging
    /// name, or under the kept-aside name the join gives it before its
    /// commit: every open that may write (`syncctl`'s before the daemon
    /// starts again too) raises the counter past the copy's, so the next
    /// dot is not one the copy already holds with other content.
    @Test(arguments: [true, false])
    func aSameIdCopyHoldingDotsTheDatabaseLostRaisesTheCounterOnOpen(staging: Bool) throws {
        let dir = TemporaryDirectory("leftover-counter")
        let live = try liveStore(in: dir)  // dot 1
        _ = try live.create(ref("agreements/second"), [.set("title", .text("Second")), .set("status", .text("active"))], author: "ana")  // dot 2
        try fold(live)
        let data = URL(fileURLWithPath: dir.path("live"))
        let copy = staging ? data.appendingPathComponent(Store.joinAsideStagingPrefix + "C") : Snapshots.keptAsideName(in: data, at: 1_800_000_000_000)
        try FileManager.default.copyItem(atPath: live.path, toPath: copy.path)
        // What the power cut took from the live database: dot 2's counter.
        try live.pool.write { db in try db.setMeta(MetaKey.counter, 1) }
        // And the counter mark beside it (replaced by a rename, never synced).
        try FileManager.default.removeItem(atPath: CounterMark.path(for: live.path))
        // Another process opens the database to write (`syncctl edit`), before any daemon start.
        let writer = try Store(path: live.path)
        // Marked beside the database too: an open that finds the raise lost takes a new id.
        #expect((CounterMark.read(try writer.replicaID, for: writer.path) ?? 0) >= 2)
        let next = try writer.create(ref("agreements/third"), [.set("title", .text("Third")), .set("status", .text("active"))], author: "ana")
        #expect(next.dot?.counter == 3, "dot \(String(describing: next.dot)) would collide with the copy's dot 2")
        if staging {
            // The daemon's start then keeps the copy aside, to be merged.
            let outcomes = Store.keepLeftoverJoinAsides(in: data, liveReplica: try live.replicaID, wall: 1_800_000_000_000, logger: logger)
            guard case .keptAside = outcomes.first, outcomes.count == 1 else { Issue.record("\(outcomes)"); return }
        }
        // Never lowered; a raise to where the counter is already writes nothing, not even the mark.
        try FileManager.default.removeItem(atPath: CounterMark.path(for: live.path))
        try live.raiseCounter(atLeast: 1)
        #expect(CounterMark.read(try live.replicaID, for: live.path) == nil)
        #expect(try live.create(ref("agreements/fourth"), [.set("title", .text("Fourth")), .set("status", .text("active"))], author: "ana").dot?.counter == 4)
    }

    /// A power cut tore the copy's first page while its last transaction
    /// wrote it (its journal holds the page as it was) and took the live
    /// WAL's tail: read as it stands, the copy is unreadable. With no daemon
    /// on the directory, a writer's open takes it up as the daemon's start
    /// would (rolled back: whole, readable) and raises past it.
    @Test func aTornCopyIsTakenUpByAWriterWhenNoDaemonRuns() throws {
        let dir = TemporaryDirectory("leftover-torn")
        let live = try liveStore(in: dir)  // dot 1
        _ = try live.create(ref("agreements/second"), [.set("title", .text("Second")), .set("status", .text("active"))], author: "ana")  // dot 2
        try fold(live)
        let data = URL(fileURLWithPath: dir.path("live"))
        // A copy of the live file, its first page torn, its journal holding the page as it was.
        func tornCopy(_ name: String) throws -> URL {
            let staging = data.appendingPathComponent(Store.joinAsideStagingPrefix + name)
            try FileManager.default.copyItem(atPath: live.path, toPath: staging.path)
            var bytes = try Data(contentsOf: staging)
            let pageSize = UInt32(bytes[16]) << 8 | UInt32(bytes[17])
            let pages = UInt32(bytes.count) / pageSize
            try RollbackJournal.restoring([(1, bytes.prefix(Int(pageSize)))], pagesBefore: pages, pageSize: pageSize)
                .write(to: URL(fileURLWithPath: staging.path + "-journal"))
            bytes.replaceSubrange(0..<100, with: Data(repeating: 0xA5, count: 100))
            try bytes.write(to: staging)
            return staging
        }
        let staging = try tornCopy("T")
        guard case .unreadable = Store.probe(staging.path) else { Issue.record("the torn copy reads as \(Store.probe(staging.path))"); return }
        try live.pool.write { db in try db.setMeta(MetaKey.counter, 1) }
        try FileManager.default.removeItem(atPath: CounterMark.path(for: live.path))

        let writer = try Store(path: live.path)
        let next = try writer.create(ref("agreements/third"), [.set("title", .text("Third")), .set("status", .text("active"))], author: "ana")
        #expect(next.dot?.counter == 3, "dot \(String(describing: next.dot)) would collide with the torn copy's dot 2")
        let kept = Snapshots.keptAside(in: data)
        let names = try FileManager.default.contentsOfDirectory(atPath: data.path)
        #expect(kept.count == 1 && !FileManager.default.fileExists(atPath: staging.path), "\(names)")
        // Another process holds the directory (a raw flock here, as another
        // process's would be): a daemon still starting has not taken up what
        // the crash left, so a writer refuses to open; a running one has,
        // so the copy is a join writing it, and is left to it.
        let staging2 = try tornCopy("U")
        let lockPath = data.appendingPathComponent(DaemonLock.fileName).path
        let other = open(lockPath, O_RDWR | O_CREAT, 0o600)
        defer { close(other) }
        #expect(flock(other, LOCK_EX | LOCK_NB) == 0)
        try Data("999999 \(DaemonLock.daemonStarting)\n".utf8).write(to: URL(fileURLWithPath: lockPath))
        #expect(throws: StoreError.self) { _ = try Store(path: live.path) }
        // A dead pid under the running name: a crashed daemon's, which a new
        // holder has not yet written over (it may be starting): refused too.
        let ended = Process()
        ended.executableURL = URL(fileURLWithPath: "/bin/true")
        try ended.run()
        ended.waitUntilExit()  // reaped: its pid names no process
        try Data("\(ended.processIdentifier) \(DaemonLock.daemonRunning)\n".utf8).write(to: URL(fileURLWithPath: lockPath))
        #expect(throws: StoreError.self) { _ = try Store(path: live.path) }
        try Data("\(getpid()) \(DaemonLock.daemonRunning)\n".utf8).write(to: URL(fileURLWithPath: lockPath))
        _ = try Store(path: live.path)
        #expect(FileManager.default.fileExists(atPath: staging2.path + "-journal") && Snapshots.keptAside(in: data) == kept)
        // This process holding it (the daemon's own opens, while it starts): left to its start.
        flock(other, LOCK_UN)
        let daemon = try DaemonLock(directory: data, holder: DaemonLock.daemonStarting)
        _ = try Store(path: live.path)
        #expect(FileManager.default.fileExists(atPath: staging2.path + "-journal"))
        _ = daemon
    }

    /// A staging copy that cannot be read even after the take-up (damaged)
    /// may hold dots the database lost: the replica takes a new id, so none
    /// is issued twice; the copy is left for the operator.
    @Test func aCopyStillUnreadableAfterTheTakeUpRenewsTheReplicaId() throws {
        let dir = TemporaryDirectory("leftover-unreadable")
        let live = try liveStore(in: dir)
        let before = try live.replicaID
        let data = URL(fileURLWithPath: dir.path("live"))
        let staging = data.appendingPathComponent(Store.joinAsideStagingPrefix + "garbage")
        #expect(FileManager.default.createFile(atPath: staging.path, contents: Data((0..<9_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })))
        let outcomes = try live.takeUpLeftoverJoinCopies(logger: logger)
        guard case .left = outcomes.first, outcomes.count == 1 else { Issue.record("\(outcomes)"); return }
        #expect(try live.replicaID != before)
        #expect(FileManager.default.fileExists(atPath: staging.path))
    }

    /// A join's copy moved back to data.db by hand carries the mark of a
    /// whole copy, which every later copy would inherit before its own last
    /// transaction: a live database's open removes it; a copy's keeps it.
    @Test func aLiveDatabaseDropsAnInheritedMarkOfAWholeCopy() throws {
        let dir = TemporaryDirectory("leftover-inherited-mark")
        let data = DataDirectory(url: dir.url.appendingPathComponent("live"))
        do { _ = try data.openStore(deviceID: "DEV-A") }
        try markWhole(data.databasePath)
        let copy = dir.path("copy.db")
        try FileManager.default.copyItem(atPath: data.databasePath, toPath: copy)
        func marked(_ path: String) throws -> Bool {
            try DatabaseQueue(path: path).read { db in !(try db.meta(MetaKey.joinAsideComplete)).isNull }
        }
        for readOnly in [false, true] {  // a read-only open falls through to the set-up
            var options = Store.Options()
            options.readOnly = readOnly
            _ = try data.openStore(deviceID: "DEV-A", options: options)
            #expect(try !marked(data.databasePath))
            try markWhole(data.databasePath)
        }
        _ = try Store(path: copy, deviceID: "DEV-A")
        #expect(try marked(copy))
    }

    /// When a journal beside a leftover copy is stale (removed unread) and
    /// when it is rolled back: every combination, with the header parsed
    /// from the bytes SQLite writes.
    @Test func whichJournalsAreStale() {
        for pages: UInt32 in [0, 1, 7, .max] {
            #expect(LeftoverJournal.pagesBefore(header: [UInt8](RollbackJournal.header(restoringPages: pages, pageSize: 4_096))) == pages)
        }
        #expect(LeftoverJournal.pagesBefore(header: [UInt8](repeating: 0, count: 28)) == nil)  // a zeroed header: not hot
        #expect(LeftoverJournal.pagesBefore(header: Array([UInt8](RollbackJournal.header(restoringPages: 0, pageSize: 4_096)).prefix(19))) == nil)
        for marked in [true, false] {
            for sameId in [true, false] {
                for pages: UInt32? in [nil, 0, 3] {
                    let stale = LeftoverJournal.isStale(copyMarkedWhole: marked, pagesBefore: pages, copyHasLiveReplica: sameId)
                    // Only the backup's journal (the file was empty), and only
                    // once the backup is known to have committed.
                    #expect(stale == (pages == 0 && (marked || !sameId)), "marked \(marked), same id \(sameId), pages \(String(describing: pages))")
                }
            }
        }
    }

    /// The copy was marked whole, and a power cut lost the removal of its
    /// journal (and, the join committed, the copy's new name): rolled back,
    /// that journal would empty the only copy of the offline write. It is
    /// removed unread.
    @Test func aStaleJournalBesideAWholeCopyIsNotRolledBack() throws {
        let dir = TemporaryDirectory("leftover-stale-journal")
        let live = try liveStore(in: dir)
        try fold(live)
        let data = URL(fileURLWithPath: dir.path("joiner"))
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let staging = data.appendingPathComponent(Store.joinAsideStagingPrefix + "B")
        try FileManager.default.copyItem(atPath: live.path, toPath: staging.path)
        try markWhole(staging.path)
        try RollbackJournal.header(restoringPages: 0, pageSize: 4_096).write(to: URL(fileURLWithPath: staging.path + "-journal"))

        // The same replica id as the copy's: the mark decides, not the id.
        let outcomes = Store.keepLeftoverJoinAsides(in: data, liveReplica: try live.replicaID, wall: 1_800_000_000_000, logger: logger)
        guard case .keptAside = outcomes.first, outcomes.count == 1 else { Issue.record("\(outcomes)"); return }
        let other = try dir.store("joiner/data.db")
        Snapshots.mergeAndRemoveKeptAside(into: other, logger: logger)
        #expect(try other.record(ref("agreements/offline"))?.exists == true)
    }

    /// Read cleanly and holding no store (an empty file, another database, a
    /// backup cut short that rolls back to nothing): removed. Unreadable
    /// bytes are never proof of that: left, with the reason.
    @Test(arguments: ["empty", "notAStore", "cutShort", "garbage"])
    func aCopyIsRemovedOnlyWhenItHoldsNoStore(_ kind: String) throws {
        let dir = TemporaryDirectory("leftover-\(kind)")
        let data = URL(fileURLWithPath: dir.path("joiner"))
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let staging = data.appendingPathComponent(Store.joinAsideStagingPrefix + kind)
        var liveReplica = ReplicaID.random()
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
            // A backup's transaction cut short (the join never began, so the
            // live database has the copy's id): the store's bytes under the
            // staging name, not marked whole, the empty file's hot journal
            // beside it.
            let live = try liveStore(in: dir)
            try fold(live)
            liveReplica = try live.replicaID
            try FileManager.default.copyItem(atPath: live.path, toPath: staging.path)
            try RollbackJournal.header(restoringPages: 0, pageSize: 4_096).write(to: URL(fileURLWithPath: staging.path + "-journal"))
        }
        // A companion whose database is gone goes too.
        #expect(FileManager.default.createFile(atPath: data.appendingPathComponent(Store.joinAsideStagingPrefix + "gone-wal").path, contents: Data([1])))
        let outcomes = Store.keepLeftoverJoinAsides(in: data, liveReplica: liveReplica, wall: 1_800_000_000_000, logger: logger)
        let left = try FileManager.default.contentsOfDirectory(atPath: data.path)
        if kind == "garbage" {
            guard case .left(staging.lastPathComponent, _) = outcomes.first, outcomes.count == 1 else { Issue.record("\(outcomes)"); return }
            #expect(left == [staging.lastPathComponent])
        } else {
            #expect(outcomes == [.removed(staging.lastPathComponent)])
            #expect(left.isEmpty, "\(left)")
        }
    }
}
