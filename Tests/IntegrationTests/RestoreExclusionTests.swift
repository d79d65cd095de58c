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
            // Refused before anything opened the old file (even a read-only
            // open would leave a -wal and -shm the restored file then finds).
            let beside = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path)
            #expect(!beside.contains("data.db-wal") && !beside.contains("data.db-shm"), "\(beside)")
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

        /// A program that knows nothing of `store.lock` (the `sqlite3` shell),
        /// idle after one query: what it wrote after the rename would be
        /// lost (SQLite skips the checkpoint of a renamed file), so the
        /// restore is refused and changes nothing.
        @Test func aRestoreIsRefusedWhileAnIdleSQLiteShellHasTheDatabaseOpen() async throws {
            let (cli, snapshot) = try prepare("shell")
            let shell = try StreamingProcess(URL(fileURLWithPath: "/usr/bin/sqlite3"), [cli.directory.appendingPathComponent("data.db").path])
            defer { shell.stop() }
            shell.send("SELECT count(*) > 0 FROM sync_meta;\n")
            #expect(try await shell.waitFor(timeout: .seconds(30)) { $0 == ["1"] }, "\(shell.output) \(shell.errorOutput)")
            let refused = try cli.run(["snapshot", "restore", snapshot])
            #expect(refused.status == 1 && refused.stderr.contains("another program has"), "\(refused)")
            #expect(try cli.run(["get", marker.description]).status == 0)
            let left = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path)
            #expect(!left.contains { $0.hasPrefix(Snapshots.keptAsidePrefix) || $0.contains(".restoring") }, "\(left)")
            shell.closeInput()
            #expect(try await eventually(timeout: .seconds(30)) { !shell.isRunning })
            let restored = try cli.run(["snapshot", "restore", snapshot])
            #expect(restored.status == 0, "\(restored)")
        }

        @Test func aRestoreIsRefusedWhileACommandHasTheDatabaseOpen() async throws {
            let (cli, snapshot) = try prepare("watched")
            let watch = try StreamingProcess(BuiltProducts.executable("syncctl"),
                                             ["watch", "SELECT id FROM countries WHERE id = 'cn'", "--data-dir", cli.directory.path])
            defer { watch.stop() }
            #expect(try await watch.waitFor(timeout: .seconds(30)) { $0.contains("cn") }, "\(watch.output) \(watch.errorOutput)")
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
