import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// `syncctl snapshot restore` beside other programs, each a real process
    /// on one data directory: no `syncctl` command opens the database while
    /// a restore replaces it (`StoreUseLock`); a program that knows nothing
    /// of that lock (the `sqlite3` shell) goes through SQLite's own locks,
    /// is kept off the file while the restore copies into it, and then reads
    /// and writes the restored content, never the old one nor a mix
    /// (replication-model §7).
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

        /// A `syncctl snapshot restore` stopped at `point` (`CrashPoint`), with the file that resumes it.
        func pausedRestore(_ cli: Syncctl, _ snapshot: String, at point: String) async throws -> (StreamingProcess, resume: String) {
            let pause = root.path("\(cli.directory.lastPathComponent)-paused")
            var environment = ProcessInfo.processInfo.environment
            environment["SYNCD_TEST_PAUSE_AT"] = point
            environment["SYNCD_TEST_PAUSE_FILE"] = pause
            let restore = try StreamingProcess(BuiltProducts.executable("syncctl"), ["snapshot", "restore", snapshot, "--data-dir", cli.directory.path],
                                               environment: environment)
            #expect(try await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: pause) }, "\(restore.errorOutput)")
            return (restore, pause)
        }

        /// A restore paused at `point`, a `sqlite3` shell that opens the
        /// database then and sends `sql` (told "database is locked"), then the
        /// restore resumed and ended.
        func shellDuringRestore(_ cli: Syncctl, _ snapshot: String, pausedAt point: String,
                                sending sql: String) async throws -> (restore: StreamingProcess, shell: StreamingProcess) {
            let (restore, resume) = try await pausedRestore(cli, snapshot, at: point)
            let shell = try await shell(on: cli)
            shell.send(sql)
            #expect(try await eventually(timeout: .seconds(30)) { shell.errorOutput.contains("database is locked") }, "\(shell.output) \(shell.errorOutput)")
            try FileManager.default.removeItem(atPath: resume)
            #expect(try await eventually(timeout: .seconds(30)) { restore.exitStatus != nil })
            return (restore, shell)
        }

        /// What a shell that had data.db open across a restore then sees and
        /// does: the restored content (no marker), and its edit lands in it;
        /// the file is whole, `syncctl` opens it, and the database kept aside
        /// holds the marker.
        func expectShellOnRestoredContent(_ cli: Syncctl, _ shell: StreamingProcess) async throws {
            shell.send("SELECT count(*) FROM countries WHERE id = 'after-snapshot';\nUPDATE countries SET name = 'edited in the shell' WHERE id = 'cn';\nSELECT name FROM countries WHERE id = 'cn';\n")
            #expect(try await shell.waitFor(timeout: .seconds(30)) { $0.suffix(2) == ["0", "edited in the shell"] }, "\(shell.output) \(shell.errorOutput)")
            shell.closeInput()
            #expect(try await eventually(timeout: .seconds(30)) { !shell.isRunning })
            let database = cli.directory.appendingPathComponent("data.db").path
            #expect(try SQLiteShell.run(database, "PRAGMA integrity_check").stdout == "ok")
            #expect(try SQLiteShell.run(database, "SELECT name FROM countries WHERE id = 'cn'").stdout == "edited in the shell")
            #expect(try cli.run(["get", marker.description]).stderr.contains("no record"))
            let aside = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path).filter { $0.hasPrefix(Snapshots.keptAsidePrefix) }
            #expect(aside.count == 1, "\(aside)")
            if let name = aside.first {
                let path = cli.directory.appendingPathComponent(name).path
                #expect(try SQLiteShell.run(path, "PRAGMA integrity_check").stdout == "ok")
                #expect(try Store(path: path).record(marker)?.exists == true)
            }
        }

        /// A restore refused with `message`, which changed nothing: the
        /// marker is there, nothing was kept aside or staged.
        func expectRefusedRestore(_ cli: Syncctl, _ snapshot: String, saying message: String, markerKept: Bool = true) throws {
            let refused = try cli.run(["snapshot", "restore", snapshot])
            #expect(refused.status == 1 && refused.stderr.contains(message), "\(refused)")
            if markerKept { #expect(try cli.run(["get", marker.description]).status == 0) }
            let left = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path)
            #expect(!left.contains { $0.hasPrefix(Snapshots.keptAsidePrefix) || $0.contains(".restoring") }, "\(left)")
        }

        /// The names and sizes of what the data directory holds.
        func listing(_ cli: Syncctl) throws -> [String: Int] {
            var sizes: [String: Int] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: cli.directory.path) {
                sizes[name] = (try? FileManager.default.attributesOfItem(atPath: cli.directory.appendingPathComponent(name).path)[.size] as? Int) ?? -1
            }
            return sizes
        }

        /// The `sqlite3` shell on the data directory's database, a program
        /// that knows nothing of `store.lock`; once it has the file open.
        func shell(on cli: Syncctl) async throws -> StreamingProcess {
            let database = cli.directory.appendingPathComponent("data.db").path
            let shell = try StreamingProcess(URL(fileURLWithPath: "/usr/bin/env"), ["sqlite3", database])
            let opened = try await eventually(timeout: .seconds(30)) {
                let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(shell.pid)/fd")) ?? []
                return descriptors.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(shell.pid)/fd/\($0)")) == database }
            }
            #expect(opened, "\(shell.errorOutput)")
            return shell
        }

        @Test func commandsAreRefusedWhileARestoreReplacesTheDatabase() async throws {
            let (cli, snapshot) = try prepare("paused")
            // The database taken and kept aside, not yet replaced.
            let (restore, resume) = try await pausedRestore(cli, snapshot, at: "restore.keptAside")
            defer { restore.stop() }
            let before = try listing(cli)
            let write = try cli.run(["create", "countries/during-restore", "name=During"])
            #expect(write.status == 1 && write.stderr.contains("a snapshot restore is replacing the database"), "\(write)")
            let read = try cli.run(["get", marker.description])
            #expect(read.status == 1 && read.stderr.contains("a snapshot restore is replacing the database"), "\(read)")
            // Refused before anything opened the file.
            #expect(try listing(cli) == before)
            try FileManager.default.removeItem(atPath: resume)
            #expect(try await eventually(timeout: .seconds(30)) { restore.exitStatus != nil })
            #expect(restore.exitStatus == 0, "\(restore.output) \(restore.errorOutput)")

            // The restored file, whole, with the snapshot's content.
            let database = cli.directory.appendingPathComponent("data.db").path
            let integrity = try SQLiteShell.run(database, "PRAGMA integrity_check")
            #expect(integrity.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(integrity)")
            #expect(try cli.run(["get", marker.description]).stderr.contains("no record"))
            #expect(try cli.run(["get", "countries/during-restore"]).stderr.contains("no record"))
            // A copy of the replaced database is kept aside with the marker, for the merge after the next sync.
            let aside = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path).filter { $0.hasPrefix(Snapshots.keptAsidePrefix) }
            #expect(aside.count == 1, "\(aside)")
            if let name = aside.first {
                let kept = try Store(path: cli.directory.appendingPathComponent(name).path)
                #expect(try kept.record(marker)?.exists == true)
            }
        }

        /// A program that knows nothing of `store.lock` (the `sqlite3` shell)
        /// and holds the database (in WAL mode since its first statement,
        /// it keeps a shared lock until it closes): the restore cannot take
        /// the file, is refused with the program's pid, and changes nothing.
        @Test func aRestoreIsRefusedWhileAnSQLiteShellHoldsTheDatabase() async throws {
            let (cli, snapshot) = try prepare("shell-holds")
            let shell = try await shell(on: cli)
            defer { shell.stop() }
            shell.send("SELECT count(*) > 0 FROM sync_meta;\n")
            #expect(try await shell.waitFor(timeout: .seconds(30)) { $0 == ["1"] }, "\(shell.output) \(shell.errorOutput)")
            try expectRefusedRestore(cli, snapshot, saying: "another program (pid \(shell.pid)) has")
            shell.closeInput()
            #expect(try await eventually(timeout: .seconds(30)) { !shell.isRunning })
            let restored = try cli.run(["snapshot", "restore", snapshot])
            #expect(restored.status == 0, "\(restored)")
        }

        /// A shell that opened the database and has not run a statement
        /// holds nothing: the restore goes ahead, and the shell's first
        /// statement finds the restored content (the file kept its name and
        /// inode; no WAL of the old content is left to be read).
        @Test func aShellOpenedBeforeTheRestoreThenSeesTheRestoredContent() async throws {
            let (cli, snapshot) = try prepare("shell-idle")
            let shell = try await shell(on: cli)
            defer { shell.stop() }
            let restored = try cli.run(["snapshot", "restore", snapshot])
            #expect(restored.status == 0, "\(restored)")
            try await expectShellOnRestoredContent(cli, shell)
        }

        /// A shell that opens the database while the restore holds it, before
        /// or in the middle of the copy's transaction: it can neither read
        /// nor write ("database is locked"), and once the restore is done
        /// it reads and edits the restored content.
        @Test(arguments: ["restore.keptAside", "restore.copying"])
        func aShellThatOpensTheDatabaseDuringTheRestoreIsKeptOffItUntilTheEnd(_ point: String) async throws {
            let (cli, snapshot) = try prepare("during-\(point.replacingOccurrences(of: ".", with: "-"))")
            let (restore, shell) = try await shellDuringRestore(cli, snapshot, pausedAt: point,
                                                               sending: "UPDATE countries SET name = 'too early' WHERE id = 'cn';\n")
            defer { restore.stop(); shell.stop() }
            #expect(restore.exitStatus == 0, "\(restore.output) \(restore.errorOutput)")
            try await expectShellOnRestoredContent(cli, shell)
        }

        /// A data.db that is no SQLite database (garbage written over its
        /// header): the restore still brings the snapshot back, and keeps
        /// the unreadable file aside under a name no merge picks up.
        @Test func aRestoreReplacesAnUnreadableDatabaseAndKeepsItAside() async throws {
            let (cli, snapshot) = try prepare("unreadable")
            let database = cli.directory.appendingPathComponent("data.db").path
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
            let garbage = Data(repeating: 0xA5, count: 8_192)
            try garbage.write(to: URL(fileURLWithPath: database))
            // A shell left open on it (idle, no lock): it would find the
            // restored file's WAL and journal by name, so the restore waits.
            let shell = try await shell(on: cli)
            defer { shell.stop() }
            try expectRefusedRestore(cli, snapshot, saying: "another program (pid \(shell.pid)) has", markerKept: false)
            shell.closeInput()
            #expect(try await eventually(timeout: .seconds(30)) { !shell.isRunning })
            let restored = try cli.run(["snapshot", "restore", snapshot])
            #expect(restored.status == 0 && restored.stdout.contains("could not be opened as a database"), "\(restored)")
            #expect(try SQLiteShell.run(database, "PRAGMA integrity_check").stdout == "ok")
            #expect(try cli.run(["get", "countries/cn"]).status == 0)
            let kept = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path).filter { $0.hasPrefix(Snapshots.unreadableAsidePrefix) }
            #expect(kept.count == 1, "\(kept)")
            if let name = kept.first { #expect(try Data(contentsOf: cli.directory.appendingPathComponent(name)) == garbage) }
            #expect(Snapshots.keptAside(in: cli.directory).isEmpty)
        }

        /// A damaged database, which is what a restore is for: with its
        /// `sync_meta` page garbage, it is copied aside as it is (the copy
        /// cannot record its identity there) and the snapshot comes back;
        /// with every page past the first garbage (its schema too), SQLite
        /// cannot open it, and it is kept aside whole, never merged.
        @Test(arguments: [false, true])
        func aRestoreReplacesADamagedDatabase(schemaToo: Bool) throws {
            let (cli, snapshot) = try prepare("damaged-\(schemaToo)")
            let database = cli.directory.appendingPathComponent("data.db").path
            #expect(!FileManager.default.fileExists(atPath: database + "-wal"))
            let size = try #require(try FileManager.default.attributesOfItem(atPath: database)[.size] as? Int)
            let page = try #require(Int(try SQLiteShell.run(database, "SELECT rootpage FROM sqlite_master WHERE name = 'sync_meta'").stdout))
            let (offset, count) = schemaToo ? (4_096, size - 4_096) : ((page - 1) * 4_096, 4_096)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: database))
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: Data(repeating: 0x5A, count: count))
            try handle.close()
            #expect(try SQLiteShell.run(database, "PRAGMA integrity_check").stdout != "ok")
            let restored = try cli.run(["snapshot", "restore", snapshot])
            #expect(restored.status == 0 && restored.stdout.contains("is kept as"), "\(restored)")
            #expect(restored.stdout.contains("could not be opened as a database") == schemaToo, "\(restored)")
            #expect(try SQLiteShell.run(database, "PRAGMA integrity_check").stdout == "ok")
            #expect(try cli.run(["get", "countries/cn"]).stdout.contains("China"))
            #expect(Snapshots.keptAside(in: cli.directory).count == (schemaToo ? 0 : 1))
        }

        /// A data.db garbled in place while a shell held it in WAL mode:
        /// the shell would go on with it by name, so the restore refuses
        /// (SQLite's lock, seen whatever account holds it). A garbled
        /// data.db whose WAL survived a crash: none of the WAL's frames
        /// reaches the restored file (SQLite folds them into the garbled
        /// file as the restore's open fails; what is left goes aside with it).
        @Test func anUnreadableDatabaseWithAHolderOrAWALLeftIsNeverMixedIntoTheRestore() async throws {
            let (cli, snapshot) = try prepare("unreadable-wal")
            let database = cli.directory.appendingPathComponent("data.db").path
            let shell = try await shell(on: cli)
            defer { shell.stop() }
            shell.send("PRAGMA wal_autocheckpoint = 0;\nUPDATE countries SET name = 'from the old WAL' WHERE id = 'cn';\nSELECT name FROM countries WHERE id = 'cn';\n")
            #expect(try await shell.waitFor(timeout: .seconds(30)) { $0.last == "from the old WAL" }, "\(shell.output) \(shell.errorOutput)")
            let wal = try Data(contentsOf: URL(fileURLWithPath: database + "-wal"))
            #expect(wal.count > 0)
            let garble = { () throws -> Void in
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: database))
                try handle.write(contentsOf: Data(repeating: 0xA5, count: 100))
                try handle.close()
            }
            try garble()
            let refused = try cli.run(["snapshot", "restore", snapshot])
            #expect(refused.status == 1 && refused.stderr.contains("another program (pid \(shell.pid)) has"), "\(refused)")
            shell.closeInput()
            #expect(try await eventually(timeout: .seconds(30)) { !shell.isRunning })
            // As a crash would leave it: the file garbled, its WAL beside it.
            try garble()
            try wal.write(to: URL(fileURLWithPath: database + "-wal"))
            let restored = try cli.run(["snapshot", "restore", snapshot])
            #expect(restored.status == 0 && restored.stdout.contains("could not be opened as a database"), "\(restored)")
            #expect(!FileManager.default.fileExists(atPath: database + "-wal"))
            #expect(try cli.run(["get", "countries/cn"]).stdout.contains("China"))
            #expect(try SQLiteShell.run(database, "PRAGMA integrity_check").stdout == "ok")
            #expect(try SQLiteShell.run(database, "SELECT name FROM countries WHERE id = 'cn'").stdout == "China")
        }

        /// A restore run by another account than the data directory's owner
        /// (`sudo` by habit) would leave it files the owner's daemon cannot
        /// use (the copy kept aside, a journal after a crash): refused.
        @Test func aRestoreByAnotherAccountThanTheOwnerIsRefused() throws {
            guard geteuid() == 0 else { return }  // only root can run as another account here
            let (cli, snapshot) = try prepare("owner-restore")
            let database = cli.directory.appendingPathComponent("data.db").path
            let daemonLock = cli.directory.appendingPathComponent("syncd.lock").path
            try? FileManager.default.removeItem(atPath: daemonLock)
            for path in [cli.directory.path, database] { #expect(chown(path, 65_534, 65_534) == 0) }
            defer { for path in [cli.directory.path, database] { _ = chown(path, 0, 0) } }
            try expectRefusedRestore(cli, snapshot, saying: "data.db belongs to uid 65534, and this restore runs as uid 0")
            // Refused before it created anything the owner's daemon could not open.
            #expect(!FileManager.default.fileExists(atPath: daemonLock))
        }

        /// A database whose schema this SQLite cannot parse (a view written
        /// by a newer one) is not damaged: the restore copies into it in
        /// place and keeps a copy of it aside, to be merged back.
        @Test func aRestoreTakesADatabaseWhoseSchemaThisSQLiteCannotParseInPlace() throws {
            let (cli, snapshot) = try prepare("newer-schema")
            let database = cli.directory.appendingPathComponent("data.db").path
            let inserted = try SQLiteShell.run(database, "PRAGMA writable_schema = ON; INSERT INTO sqlite_master(type, name, tbl_name, rootpage, sql) VALUES ('view', 'newer', 'newer', 0, 'CREATE VIEW newer AS SELECT group_concat(id ORDER BY id) FROM countries')")
            #expect(inserted.status == 0, "\(inserted)")
            #expect(try SQLiteShell.run(database, "SELECT count(*) FROM countries").stderr.contains("malformed database schema"))
            let restored = try cli.run(["snapshot", "restore", snapshot])
            #expect(restored.status == 0 && restored.stdout.contains("a copy of the previous database is kept"), "\(restored)")
            #expect(try SQLiteShell.run(database, "PRAGMA integrity_check").stdout == "ok")
            #expect(try cli.run(["get", "countries/cn"]).stdout.contains("China"))
            #expect(Snapshots.keptAside(in: cli.directory).count == 1)
        }

        /// Whatever the umask, and when root creates it (`sudo syncctl
        /// list`), the lock file is 0644 and the directory owner's, so the
        /// owner's own commands and restores can take it.
        @Test func theLockFileIsReadableByAllAndRootGivesItToTheDirectorysOwner() throws {
            let cli = try Syncctl(in: root, name: "owner")
            let lock = cli.directory.appendingPathComponent(StoreUseLock.fileName).path
            try FileManager.default.removeItem(atPath: lock)
            let root = geteuid() == 0
            if root { #expect(chown(cli.directory.path, 65_534, 65_534) == 0) }
            let listed = try SQLiteShell.command(["sh", "-c", "umask 077 && exec \"$0\" list countries --data-dir \"$1\" > /dev/null",
                                                  BuiltProducts.executable("syncctl").path, cli.directory.path])
            #expect(listed.status == 0, "\(listed)")
            var info = stat()
            #expect(stat(lock, &info) == 0)
            #expect(info.st_mode & 0o777 == 0o644)
            if root { #expect(info.st_uid == 65_534 && info.st_gid == 65_534) }
        }

        @Test func aRestoreIsRefusedWhileACommandHasTheDatabaseOpen() async throws {
            let (cli, snapshot) = try prepare("watched")
            let watch = try StreamingProcess(BuiltProducts.executable("syncctl"),
                                             ["watch", "SELECT id FROM countries WHERE id = 'cn'", "--data-dir", cli.directory.path])
            defer { watch.stop() }
            #expect(try await watch.waitFor(timeout: .seconds(30)) { $0.contains("cn") }, "\(watch.output) \(watch.errorOutput)")
            try expectRefusedRestore(cli, snapshot, saying: "another process has the database")
            watch.stop()
            let restored = try cli.run(["snapshot", "restore", snapshot])
            #expect(restored.status == 0, "\(restored)")
            #expect(try cli.run(["get", marker.description]).stderr.contains("no record"))
        }
    }
}
