import Foundation
import Logging
import Testing
import TestSupport
@testable import SyncCore

@Suite("Scheduled snapshots", .timeLimit(.minutes(3)))
struct SnapshotScheduleTests {
    let root = TemporaryDirectory("snapshot-schedule")

    /// The recorded digest of one bucket off, as `sqlite3` would leave it:
    /// every snapshot of `store` then fails verification.
    static func putOneBucketOff(_ store: Store) throws {
        try store.withWriteTransaction { db in
            try db.execute(sql: "UPDATE sync_buckets SET digest = zeroblob(16) WHERE bucket = (SELECT min(bucket) FROM sync_buckets WHERE digest != zeroblob(16))")
        }
    }

    @Test func roundsKeepTheNewestVerifiedSnapshots() throws {
        let store = try root.store()
        let directory = root.url.appendingPathComponent("snapshots")
        let scheduler = SnapshotScheduler(store: store, directory: directory, intervalMinutes: 1, retain: 2, logger: Logger(label: "test"))
        var taken: [String] = []
        for round in 0..<4 {
            try store.create(RecordRef(parsing: "countries/c\(round)")!, [.set("name", .text("Country \(round)"))], author: "t")
            scheduler.takeOne()
            taken.append(Snapshots.list(in: directory).first!.url.lastPathComponent)
        }
        let left = Snapshots.list(in: directory)
        #expect(left.map(\.url.lastPathComponent) == Array(taken.suffix(2).reversed()))
        for snapshot in left {
            #expect(try Snapshots.verify(snapshot.url) == [])
            #expect(FileManager.default.fileExists(atPath: SnapshotManifest.url(for: snapshot.url).path))
        }
        #expect(left.first?.manifest?.highestSeq == (try store.highestSeq()))
    }

    /// A live database whose digest is off makes every snapshot fail
    /// verification. Each is moved into `failed/`, only the newest kept
    /// there; the verified ones are left alone, and once the database is
    /// mended the failed ones do not count towards `retain`.
    @Test func failedSnapshotsAreSetAsideOneKeptAndNeverPushVerifiedOnesOut() throws {
        let store = try root.store("failing.db")
        let directory = root.url.appendingPathComponent("failing-snapshots")
        let failedFolder = directory.appendingPathComponent(SnapshotScheduler.failedFolder)
        let scheduler = SnapshotScheduler(store: store, directory: directory, intervalMinutes: 1, retain: 2, logger: Logger(label: "test"))
        var round = 0
        func write() throws {
            round += 1
            try store.create(RecordRef(parsing: "countries/f\(round)")!, [.set("name", .text("Country \(round)"))], author: "t")
        }
        for _ in 0..<2 { try write(); scheduler.takeOne() }
        let verified = Snapshots.list(in: directory).map(\.url.lastPathComponent)
        try #require(verified.count == 2)
        try Self.putOneBucketOff(store)
        var failedNames: [String] = []
        for _ in 0..<3 {
            try write()
            scheduler.takeOne()
            let failed = try FileManager.default.contentsOfDirectory(atPath: failedFolder.path).filter { $0.hasSuffix(".syncsnap") }
            #expect(failed.count == 1, "\(failed)")
            failedNames += failed
            #expect(Snapshots.list(in: directory).map(\.url.lastPathComponent) == verified)
        }
        // Each round's failed snapshot replaced the one before, with its manifest.
        #expect(Set(failedNames).count == 3)
        let kept = failedFolder.appendingPathComponent(failedNames.last!)
        #expect(try Snapshots.verify(kept) != [])
        #expect(FileManager.default.fileExists(atPath: SnapshotManifest.url(for: kept).path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: failedFolder.path).count == 2)

        // Mended: the next round is verified; the two kept are it and the newest verified before.
        _ = try store.repairDigest()
        try write()
        scheduler.takeOne()
        let after = Snapshots.list(in: directory).map(\.url.lastPathComponent)
        #expect(after.count == 2 && after[1] == verified[0], "\(after) \(verified)")
        #expect(try Snapshots.verify(directory.appendingPathComponent(after[0])) == [])
    }

    /// Only failed snapshots syncd named go (with their manifests, or a
    /// manifest alone), never the one just set aside (even when a clock set
    /// back gave it the oldest name), never a file of another name (a copy
    /// made for a report).
    @Test func failedOnesButTheOneJustSetAsideAreRemovedByName() {
        let names = ["2026-12-06T10-00-00.000Z.syncsnap", "2026-12-06T12-00-00.000Z.syncsnap", "2026-12-06T09-00-00.000Z.syncsnap",
                     "2026-12-06T09-00-00.000Z.syncsnap.manifest.json", "2026-12-06T11-00-00.000Z.syncsnap.manifest.json",
                     "report.syncsnap", "2026-12-06T10-00-00.000Z-copy.syncsnap", "notes.txt"]
        #expect(SnapshotScheduler.failedToRemove(names, keeping: "2026-12-06T09-00-00.000Z.syncsnap")
                == ["2026-12-06T10-00-00.000Z.syncsnap", "2026-12-06T12-00-00.000Z.syncsnap", "2026-12-06T11-00-00.000Z.syncsnap.manifest.json"])
        #expect(SnapshotScheduler.failedToRemove([], keeping: "x") == [])
        #expect(Snapshots.dateOfDefaultName(Snapshots.defaultName(at: Date(timeIntervalSince1970: 1_765_000_000.25))) != nil)
    }

    /// A `failed` that is a link (to another daemon's snapshots, say) is
    /// not followed: the failed snapshot is removed instead, and nothing
    /// behind the link is touched.
    @Test func aFailedFolderThatIsALinkIsNotFollowed() throws {
        let store = try root.store("linked.db")
        let directory = root.url.appendingPathComponent("linked-snapshots")
        let elsewhere = root.url.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let theirs = elsewhere.appendingPathComponent(Snapshots.defaultName(at: Date(timeIntervalSince1970: 1_700_000_000)))
        try Data("theirs".utf8).write(to: theirs)
        try FileManager.default.createSymbolicLink(at: directory.appendingPathComponent(SnapshotScheduler.failedFolder), withDestinationURL: elsewhere)
        try store.create(RecordRef(parsing: "countries/l1")!, [.set("name", .text("Linked"))], author: "t")
        try Self.putOneBucketOff(store)
        let scheduler = SnapshotScheduler(store: store, directory: directory, intervalMinutes: 1, retain: 2, logger: Logger(label: "test"))
        scheduler.takeOne()
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere.path) == [theirs.lastPathComponent])
        #expect(Snapshots.list(in: directory).isEmpty)
    }

    /// What a crash in the middle of a snapshot leaves goes once it is an
    /// hour old: the copy, SQLite's files beside it, the manifest written
    /// for it. A copy in progress, a snapshot and its manifest, and a
    /// manifest alone (a copy tool may bring it before its snapshot) stay.
    @Test func leftoversOfAnInterruptedSnapshotAreSweptOnceOld() {
        let now = Date(timeIntervalSince1970: 1_765_000_000)
        let old = now.addingTimeInterval(-2 * SnapshotScheduler.leftoverSeconds), fresh = now.addingTimeInterval(-60)
        let files: [(name: String, modified: Date)] = [
            ("a.syncsnap.partial", old), ("a.syncsnap.partial-journal", fresh), ("a.syncsnap.manifest.json", old),
            ("b.syncsnap.partial", fresh), ("b.syncsnap.manifest.json", old),
            ("c.syncsnap", old), ("c.syncsnap.manifest.json", old), ("c.syncsnap.partial", old),
            ("d.syncsnap.manifest.json", old), ("failed", old), ("notes.partial", old),
        ]
        #expect(SnapshotScheduler.leftovers(files, now: now)
                == ["a.syncsnap.partial", "a.syncsnap.partial-journal", "a.syncsnap.manifest.json", "c.syncsnap.partial"])
    }

    /// Two daemons sharing a snapshot directory: each prunes only its own
    /// (by the device its manifests name), never the other's newest, nor a
    /// snapshot whose manifest cannot be read; one without a manifest, or
    /// whose manifest names no device, counts as its own; a store of no
    /// device prunes all but those it cannot read.
    @Test func pruningLeavesAnotherDevicesSnapshotsAlone() {
        let listed: [(name: String, owner: SnapshotScheduler.Owner)] = [
            ("6", .device("A")), ("5", .device("B")), ("4", .device("A")), ("3", .device("B")), ("2", .device(nil)),
            ("1", .noManifest), ("u", .unreadableManifest), ("0", .device("A")),
        ]
        #expect(SnapshotScheduler.toPrune(listed, retain: 2, newest: "6", device: "A") == ["2", "1", "0"])
        #expect(SnapshotScheduler.toPrune(listed, retain: 2, newest: "5", device: "B") == ["2", "1"])
        #expect(SnapshotScheduler.toPrune(listed, retain: 2, newest: "6", device: nil) == ["4", "3", "2", "1", "0"])
        // The newest listed stays with `retain` 1, and so does the one just verified.
        #expect(SnapshotScheduler.toPrune(listed, retain: 1, newest: "4", device: "A") == ["2", "1", "0"])
    }
}
