import ArgumentParser
import Foundation
import SyncCore

struct Snapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Back up and restore by snapshot; merge a colleague's snapshot (sneakernet).",
        discussion: """
            A snapshot is a consistent copy of the database (taken while syncd runs and
            writes) plus NAME.manifest.json with its replica, time, counts and SHA-256.

            Examples:
              syncctl snapshot create
              syncctl snapshot create /media/usb/ana.syncsnap
              syncctl snapshot list
              syncctl snapshot verify ~/.local/share/syncd/snapshots/2026-11-22T21-00-00Z.syncsnap
              syncctl snapshot restore ~/.local/share/syncd/snapshots/2026-11-22T21-00-00Z.syncsnap
              syncctl snapshot merge /media/usb/bo.syncsnap
            """,
        subcommands: [CreateSnapshot.self, ListSnapshots.self, VerifySnapshot.self, RestoreSnapshot.self, MergeSnapshot.self])
}

struct CreateSnapshot: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Take a snapshot (default: snapshots/ in the data directory, named by time).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Where to write it.", valueName: "file")) var file: String?

    func run() throws {
        try reportingErrors {
            let store = try global.openStore()
            let url = file.map { URL(fileURLWithPath: $0) } ?? global.directory.snapshotsURL.appendingPathComponent(Snapshots.defaultName())
            // The copy is one SQLite step (so it is one instant); show elapsed time meanwhile.
            let ticker = ElapsedTicker(label: "copying the database", enabled: !global.json && isatty(2) != 0)
            let manifest = try Snapshots.create(from: store, to: url)
            ticker.stop()
            try global.emit(manifest) {
                print("snapshot \(url.path)")
                print("  \(Display.bytes(UInt64(manifest.bytes))), \(manifest.records) records, \(manifest.slots) slots, replica \(manifest.replica.prefix(8)), seq \(manifest.highestSeq)")
            }
        }
    }
}

struct ListSnapshots: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The snapshots in a directory, newest first.")

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Directory (default: snapshots/ in the data directory).", valueName: "dir")) var directory: String?

    func run() throws {
        try reportingErrors {
            let folder = directory.map { URL(fileURLWithPath: $0) } ?? global.directory.snapshotsURL
            let snapshots = Snapshots.list(in: folder)
            try global.emit(snapshots.compactMap(\.manifest)) {
                guard !snapshots.isEmpty else { return print("no snapshots in \(folder.path)") }
                print("\(Display.fit("SNAPSHOT", 34)) \(Display.fit("SIZE", 9)) \(Display.fit("RECORDS", 9)) \(Display.fit("AGE", 14)) DEVICE")
                for snapshot in snapshots {
                    let manifest = snapshot.manifest
                    // The device: a scheduled prune leaves other devices' snapshots alone.
                    print("\(Display.fit(snapshot.url.lastPathComponent, 34)) \(Display.fit(manifest.map { Display.bytes(UInt64($0.bytes)) } ?? "?", 9)) \(Display.fit(manifest.map { String($0.records) } ?? "?", 9)) \(Display.fit(manifest.map { Display.ago($0.createdAt) } ?? "no manifest", 14)) \(manifest.map { $0.deviceID ?? "-" } ?? "?")")
                }
            }
        }
    }
}

struct VerifySnapshot: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Check checksum, SQLite integrity and every slot; exit 1 with what is wrong.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The snapshot.", valueName: "file")) var file: String

    func run() throws {
        try reportingErrors {
            let progress = Progress(label: "verifying, percent done:", total: 100, enabled: !global.json && isatty(2) != 0)
            let problems = try Snapshots.verify(URL(fileURLWithPath: file)) { progress.update(Int($0 * 100)) }
            progress.finish()
            struct Output: Encodable { let file: String; let ok: Bool; let problems: [String] }
            try global.emit(Output(file: file, ok: problems.isEmpty, problems: problems)) {
                print(problems.isEmpty ? "\(file): ok" : "\(file): \(problems.count) problem(s)")
                for problem in problems { print("  - \(problem)") }
            }
            if !problems.isEmpty { throw ExitCode(1) }
        }
    }
}

struct RestoreSnapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Replace this database with a verified snapshot (the daemon must be stopped).",
        discussion: """
            The snapshot is verified, then copied into data.db in place, in one
            transaction: a program that has the database open (the sqlite3 shell) is
            kept off it meanwhile and sees the restored content afterwards; one that
            holds it (in a transaction, or in WAL mode since its first statement)
            makes the restore refuse until it is closed. A copy of the current
            database is kept aside (data.db.before-restore-TIME) until the daemon's
            next successful sync, then merged back; if it holds tables, views or
            added columns of yours that the restored one lacks, it is then kept as
            data.db.own-data-before-restore-TIME (the log says what is in it). The
            restored database takes a new replica id; when syncd starts again it
            catches up from its peers.

            SQL edits waiting or refused in the database are carried into the restored
            one and taken up there; edits that were still waiting in the snapshot are
            kept refused (they may have been taken up since): `syncctl sql list`.

            Examples:
              syncctl snapshot restore ~/.local/share/syncd/snapshots/2026-11-22T21-00-00Z.syncsnap
              syncctl snapshot restore --abandon-unreadable-sql-edits backup.syncsnap   # data.db damaged
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The snapshot.", valueName: "file")) var file: String
    @Flag(name: .customLong("abandon-unreadable-sql-edits"), help: "Restore even when the SQL edits waiting in the damaged database cannot be read (they are then only in the copy kept aside).")
    var abandonUnreadableSQLEdits = false

    func run() throws {
        try reportingErrors {
            // Held until this process ends: no daemon starts on the directory mid-restore.
            // (No directory: the restore below says so.)
            // Before syncd.lock is created: as another account, it would be out of the daemon's reach.
            do { try Snapshots.requireOwner(of: global.directory) } catch { throw CLIError("\(error)") }
            var claim: DaemonLock?
            if FileManager.default.fileExists(atPath: global.directory.path) {
                do { claim = try DaemonLock(directory: global.directory.url, holder: "syncctl snapshot restore") } catch { throw CLIError("\(error)") }
            }
            defer { withExtendedLifetime(claim) {} }
            let socket = global.directory.controlSocketPath
            if (try? ControlClient(path: socket).send(ControlRequest(command: "status"), timeout: 2)) != nil {
                throw CLIError(SnapshotError.daemonRunning(socket).description)
            }
            let deviceID = try DeviceIdentity.existingDeviceID(in: global.directory.url)?.description
            var progress: Progress?
            let outcome = try Snapshots.restore(URL(fileURLWithPath: file), into: global.directory, deviceID: deviceID,
                                                abandonUnreadableSQLEdits: abandonUnreadableSQLEdits, progress: { phase, done in
                if progress?.label != phase.rawValue + ", percent done:" {
                    progress?.finish()
                    progress = Progress(label: phase.rawValue + ", percent done:", total: 100, enabled: !global.json && isatty(2) != 0)
                }
                progress?.update(Int(done * 100))
            })
            progress?.finish()
            let (replica, aside) = (outcome.replica, outcome.keptAside)
            struct Restored: Encodable {
                let restored: String, replica: String, keptAside: String, sqlEditsCarried: Int, sqlEditsNotCarried: String?, keptColumns: [String]
            }
            try global.emit(Restored(restored: file, replica: replica.hex, keptAside: aside?.path ?? "", sqlEditsCarried: outcome.sqlEditsCarried,
                                     sqlEditsNotCarried: outcome.sqlEditsNotCarried, keptColumns: outcome.keptColumns.map(\.description))) {
                print("restored \(file); new replica id \(replica.short)")
                if let aside, aside.lastPathComponent.hasPrefix(Snapshots.unreadableAsidePrefix) {
                    print("the previous data.db could not be opened as a database (damaged); it is kept as \(aside.path) (not merged back: inspect it, then remove it)")
                } else if let aside {
                    print("a copy of the previous database is kept as \(aside.path) until the next successful sync, and what it holds that the snapshot lacks is merged back then; if it holds tables, views or added columns of yours that the snapshot lacks, it is then kept as \(Snapshots.analystDataAsidePrefix)… (the log says what is in it)")
                }
                for copy in outcome.keptColumns {
                    print(copy.failure == nil ? "the snapshot's \(copy.collection) table had columns someone added with SQL: \(copy)"
                                              : "warning: the snapshot's \(copy.collection) table had columns someone added with SQL: \(copy) (the snapshot file still holds them)")
                }
                if outcome.sqlEditsCarried > 0 {
                    print("\(outcome.sqlEditsCarried) SQL edit(s) waiting or refused in the previous database were carried over: syncd takes up the waiting ones (`syncctl sql list` shows those of the collections the schema has)")
                }
                if let problem = outcome.sqlEditsNotCarried, let aside {
                    print("warning: the SQL edits waiting in the previous database could not be read (\(problem)); they are only in \(aside.path), which is removed after the next successful sync: copy it elsewhere first to keep them (its sync_sql_edits_* tables)")
                }
                print("start syncd to catch up from peers")
            }
        }
    }
}

struct MergeSnapshot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Merge another replica's snapshot into this database (conflicts surface as usual; idempotent).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The snapshot.", valueName: "file")) var file: String

    func run() throws {
        try reportingErrors {
            let store = try global.openStore()
            let report = try Snapshots.merge(URL(fileURLWithPath: file), into: store)
            let conflicts = try store.conflictCount()
            try global.emit(["changed": report.changed, "unchanged": report.unchanged, "openConflicts": conflicts]) {
                print("merged \(file): \(report.changed) slots changed, \(report.unchanged) already known; \(conflicts) conflict(s) open")
            }
        }
    }
}
