import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// `syncctl snapshot restore` and the other `syncctl` commands, each a
    /// real process on one data directory: a restore never renames its file
    /// over a database another process has open (whose later commits would
    /// go to a WAL the restored file inherits by name), and no command opens
    /// the database while a restore replaces it (`StoreUseLock`).
    @Suite struct RestoreExclusion {
        let root = TemporaryDirectory("syncd-restore-exclusion")
        let marker = RecordRef(parsing: "countries/after-snapshot")!

        func prepare(_ name: String) throws -> (cli: Syncctl, snapshot: String) {
            let cli = try Syncctl(in: root, name: name)
            let snapshot = root.path("\(name).\(Snapshots.fileExtension)")
            #expect(try cli.run(["snapshot", "create", snapshot]).status == 0)
            #expect(try cli.run(["create", marker.description, "name=After"]).status == 0)
            return (cli, snapshot)
        }

        @Test func commandsAreRefusedWhileARestoreReplacesTheDatabase() async throws {
            let (cli, snapshot) = try prepare("paused")
            let pause = root.path("paused-at-unlinked")
            var environment = ProcessInfo.processInfo.environment
            environment["SYNCD_TEST_PAUSE_AT"] = "restore.unlinked"  // folded, kept aside, old WAL removed; not yet renamed
            environment["SYNCD_TEST_PAUSE_FILE"] = pause
            let restore = try StreamingProcess(BuiltProducts.executable("syncctl"), ["snapshot", "restore", snapshot, "--data-dir", cli.directory.path],
                                               environment: environment)
            defer { restore.stop() }
            #expect(try await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: pause) }, "\(restore.errorOutput)")
            let write = try cli.run(["create", "countries/during-restore", "name=During"])
            #expect(write.status == 1 && write.stderr.contains("a snapshot restore is replacing the database"), "\(write)")
            let read = try cli.run(["get", marker.description])
            #expect(read.status == 1 && read.stderr.contains("a snapshot restore is replacing the database"), "\(read)")
            try FileManager.default.removeItem(atPath: pause)
            #expect(try await eventually(timeout: .seconds(30)) { restore.exitStatus != nil })
            #expect(restore.exitStatus == 0, "\(restore.output) \(restore.errorOutput)")

            // The restored file alone, whole, with the snapshot's content.
            let database = cli.directory.appendingPathComponent("data.db").path
            let integrity = try SQLiteShell.run(database, "PRAGMA integrity_check")
            #expect(integrity.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(integrity)")
            #expect(try cli.run(["get", marker.description]).stderr.contains("no record"))
            #expect(try cli.run(["get", "countries/during-restore"]).stderr.contains("no record"))
            // The replaced database is kept aside with the marker, for the merge after the next sync.
            let aside = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path).filter { $0.hasPrefix(Snapshots.keptAsidePrefix) }
            #expect(aside.count == 1, "\(aside)")
            if let name = aside.first {
                let kept = try Store(path: cli.directory.appendingPathComponent(name).path)
                #expect(try kept.record(marker)?.exists == true)
            }
        }

        @Test func aRestoreIsRefusedWhileACommandHasTheDatabaseOpen() async throws {
            let (cli, snapshot) = try prepare("watched")
            let watch = try StreamingProcess(BuiltProducts.executable("syncctl"),
                                             ["watch", "SELECT id FROM countries WHERE id = 'cn'", "--data-dir", cli.directory.path])
            defer { watch.stop() }
            #expect(try await watch.waitFor { $0.contains("cn") }, "\(watch.output) \(watch.errorOutput)")
            let refused = try cli.run(["snapshot", "restore", snapshot])
            #expect(refused.status == 1 && refused.stderr.contains("another process has the database"), "\(refused)")
            // Nothing changed: the marker is there, nothing was kept aside or staged.
            #expect(try cli.run(["get", marker.description]).status == 0)
            let left = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path)
            #expect(!left.contains { $0.hasPrefix(Snapshots.keptAsidePrefix) || $0.contains(".restoring") }, "\(left)")
            watch.stop()
            let restored = try cli.run(["snapshot", "restore", snapshot])
            #expect(restored.status == 0, "\(restored)")
            #expect(try cli.run(["get", marker.description]).stderr.contains("no record"))
        }
    }
}
