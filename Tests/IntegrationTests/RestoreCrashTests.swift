import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// `syncctl snapshot restore` killed (SIGKILL) at every step, and at
    /// random moments: the data directory always holds a database that opens,
    /// nothing after the snapshot is lost (the original is there or kept
    /// aside), and a database with the snapshot's content never carries the
    /// snapshot's replica id, which the original still uses (replication-model §7).
    @Suite struct RestoreCrashes {
        let root = TemporaryDirectory("syncd-restore-kill")
        let marker = RecordRef(parsing: "countries/after-snapshot")!

        /// A data directory with a snapshot, then one more write (the marker) that the snapshot lacks.
        func prepare(_ name: String) throws -> (cli: Syncctl, snapshot: String, snapshotReplica: ReplicaID) {
            let cli = try Syncctl(in: root, name: name)
            let snapshot = root.path("\(name).\(Snapshots.fileExtension)")
            #expect(try cli.run(["snapshot", "create", snapshot]).status == 0)
            #expect(try cli.run(["create", marker.description, "name=After"]).status == 0)
            return (cli, snapshot, try cli.store().replicaID)
        }

        /// What must hold after any crash of a restore.
        func expectSafe(_ cli: Syncctl, snapshotReplica: ReplicaID, _ label: String) throws {
            let path = cli.directory.appendingPathComponent("data.db").path
            #expect(FileManager.default.fileExists(atPath: path), "\(label): no data.db")
            // Opened as syncctl opens it (with the device), which is what issues dots.
            let device = try DeviceIdentity.existingDeviceID(in: cli.directory)?.description
            let store = try Store(path: path, deviceID: device)
            let hasMarker = try store.record(marker)?.exists == true
            if !hasMarker {
                #expect(try store.replicaID != snapshotReplica, "\(label): the restored content kept the snapshot's replica id")
                let aside = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path).filter { $0.hasPrefix(Snapshots.keptAsidePrefix) }
                #expect(!aside.isEmpty, "\(label): the original (with the marker) is gone")
            }
            let check = try cli.run(["get", marker.description])
            #expect(check.status == 0 || check.stderr.contains("no record"), "\(label): \(check)")
        }

        @Test(arguments: ["restore.copied", "restore.staged", "restore.keptAside", "restore.copying", "restore.replaced"])
        func killedAtAStep(_ point: String) throws {
            let (cli, snapshot, replica) = try prepare(point.replacingOccurrences(of: ".", with: "-"))
            let killed = try cli.run(["snapshot", "restore", snapshot], environment: ["SYNCD_TEST_CRASH_AT": point])
            #expect(killed.status != 0, "\(point): the restore was not killed")
            let database = cli.directory.appendingPathComponent("data.db").path
            if point == "restore.copying" {
                // Killed inside the copy's transaction: its journal is hot, and the next opener rolls the file back.
                #expect(FileManager.default.fileExists(atPath: database + "-journal"), "\(point): no journal")
            }
            try expectSafe(cli, snapshotReplica: replica, point)
            let restored = try cli.store().record(marker)?.exists != true
            // Before the copy's commit the database is the original; after it, the restored one.
            #expect(restored == (point == "restore.replaced"), "\(point): restored \(restored)")
            // Run again to the end: it completes, with a new id, without the marker.
            let again = try cli.run(["snapshot", "restore", snapshot])
            #expect(again.status == 0, "\(point): \(again)")
            #expect(try cli.store().replicaID != replica)
            #expect(try cli.store().record(marker)?.exists != true)
        }

        /// A database larger than SQLite's page cache, killed half-way
        /// through the copy: pages of the snapshot are in data.db already,
        /// and the journal beside it is hot (it holds the pages they
        /// replaced). The first command after the crash rolls the file back
        /// to the original, whole, marker included.
        @Test func killedHalfWayThroughTheCopyOfALargeDatabase() throws {
            let cli = try Syncctl(in: root, name: "large")
            let rows = root.path("large.csv")
            let lines = ["id,name,region"] + (0..<20_000).map { "x\($0),Country \($0) with a name long enough to fill pages,asia" }
            try lines.joined(separator: "\n").write(toFile: rows, atomically: true, encoding: .utf8)
            #expect(try cli.run(["import", rows, "--collection", "countries"]).status == 0)
            let snapshot = root.path("large.\(Snapshots.fileExtension)")
            #expect(try cli.run(["snapshot", "create", snapshot]).status == 0)
            #expect(try cli.run(["create", marker.description, "name=After"]).status == 0)
            let database = cli.directory.appendingPathComponent("data.db").path
            let killed = try cli.run(["snapshot", "restore", snapshot], environment: ["SYNCD_TEST_CRASH_AT": "restore.copying"])
            #expect(killed.status != 0)
            let journal = try Data(contentsOf: URL(fileURLWithPath: database + "-journal"))
            #expect(journal.prefix(8) == Data([0xD9, 0xD5, 0x05, 0xF9, 0x20, 0xA1, 0x63, 0xD7]), "the journal is not hot")
            #expect(journal.count > 1 << 20, "\(journal.count) bytes of journal: nothing was written to data.db yet")
            let read = try cli.run(["get", marker.description])
            #expect(read.status == 0 && read.stdout.contains("After"), "\(read)")
            #expect(!FileManager.default.fileExists(atPath: database + "-journal"))
            #expect(try SQLiteShell.run(database, "PRAGMA integrity_check").stdout == "ok")
            #expect(try SQLiteShell.run(database, "SELECT count(*) FROM countries WHERE id LIKE 'x%'").stdout == "20000")
            let again = try cli.run(["snapshot", "restore", snapshot])
            #expect(again.status == 0, "\(again)")
            #expect(try cli.run(["get", marker.description]).stderr.contains("no record"))
        }

        /// The staged copy a killed restore left (as large as the
        /// snapshot) is removed by the daemon's next start, which says so.
        @Test func aDaemonStartRemovesWhatAKilledRestoreLeft() async throws {
            let (cli, snapshot, _) = try prepare("leftover")
            let killed = try cli.run(["snapshot", "restore", snapshot], environment: ["SYNCD_TEST_CRASH_AT": "restore.staged"])
            #expect(killed.status != 0)
            let staged = cli.directory.appendingPathComponent("data.db.restoring").path
            #expect(FileManager.default.fileExists(atPath: staged))
            let daemon = try DaemonProcess(existing: "leftover", directory: cli.directory)
            try await daemon.start()
            try await daemon.stop()
            #expect(!FileManager.default.fileExists(atPath: staged))
            #expect(daemon.log().contains("removed what a restore killed before its end left"), "\(daemon.log(last: 20))")
            #expect(try cli.run(["get", marker.description]).status == 0)
        }

        @Test func killedAtRandomMoments() async throws {
            var generator = SystemRandomNumberGenerator()
            for round in 0..<8 {
                let (cli, snapshot, replica) = try prepare("random-\(round)")
                let process = Process()
                process.executableURL = BuiltProducts.executable("syncctl")
                process.arguments = ["snapshot", "restore", snapshot, "--data-dir", cli.directory.path]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                try await Task.sleep(for: .milliseconds(Int.random(in: 5...120, using: &generator)))
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                try expectSafe(cli, snapshotReplica: replica, "round \(round)")
            }
        }
    }
}
