import ArgumentParser
import Foundation
import SyncCore

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Data directory (default: $SYNCD_DATA_DIR, $XDG_DATA_HOME/syncd or ~/.local/share/syncd).", valueName: "dir"))
    var dataDir: String?

    @Option(name: .long, help: ArgumentHelp("Author stored on writes (default: the config's author, else $USER).", valueName: "name"))
    var author: String?

    @Flag(name: .long, help: "Machine-readable JSON on standard output (documented in docs/cli-json.md).")
    var json = false

    var directory: DataDirectory { DataDirectory.resolve(explicit: dataDir) }

    /// Prints `value` as JSON with --json, else runs `human`.
    func emit<T: Encodable>(_ value: T, human: () throws -> Void) throws {
        guard json else { return try human() }
        print(try JSONOutput.encode(value))
    }

    /// Who writes: --author, $SYNCD_AUTHOR, the config's author, $USER.
    func resolvedAuthor() throws -> String {
        if let author, !author.isEmpty { return author }
        let environment = ProcessInfo.processInfo.environment
        if let value = environment["SYNCD_AUTHOR"], !value.isEmpty { return value }
        if FileManager.default.fileExists(atPath: configPath) {
            return try PeerListEditor(path: configPath, defaults: .machineDefaults()).load().author
        }
        return DaemonConfig.machineDefaults().author
    }

    /// The daemon's config file: $SYNCD_CONFIG, else config.yaml in the data directory.
    var configPath: String {
        ProcessInfo.processInfo.environment["SYNCD_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } ?? directory.configPath
    }

    /// Edits the peer list of the config; errors say how to create a missing one.
    func peerEditor() throws -> PeerListEditor {
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw CLIError("no config at \(configPath). Start the daemon once (`syncd --data-dir \(directory.path)`) to create it.")
        }
        return PeerListEditor(path: configPath, defaults: DaemonConfig.machineDefaults())
    }

    /// Tells a running daemon to ship what this command just wrote (no-op when none runs).
    func nudgeDaemon() {
        LocalWriteNudge.send(controlSocket: directory.controlSocketPath)
    }

    /// A writing open marks an older file with this build's storage format,
    /// which a running daemon of the older version cannot read (it checked
    /// the format when it opened the file): refused while one answers.
    func refuseUpgradeUnderAnOlderDaemon() throws {
        guard let held = Store.storedFormat(path: directory.databasePath), held < Store.writtenFormat else { return }
        // A daemon that accepts the connection runs, whatever it answers (a
        // refusal, or nothing in time while it merges).
        let running: Bool
        do {
            _ = try ControlClient(path: directory.controlSocketPath).send(ControlRequest(command: "status"), timeout: 3)
            running = true
        } catch ControlError.notRunning {
            running = false
        } catch {
            running = true
        }
        guard running else { return }
        throw CLIError("the database is storage format \(held) and a syncd of an earlier version is running on it; "
            + "this syncctl would mark it format \(Store.writtenFormat), which that syncd cannot read. Stop syncd and start "
            + "this version's syncd (it moves the file on at start), then run the command again (docs/operations.md \"Upgrading\").")
    }

    /// Asks the running daemon over the control socket.
    func control(_ request: ControlRequest, timeout: Double = 10) throws -> ControlResponse {
        let response: ControlResponse
        do { response = try ControlClient(path: directory.controlSocketPath).send(request, timeout: timeout) } catch {
            throw CLIError("\(error)")
        }
        guard response.ok else { throw CLIError("the daemon refused: \(response.error ?? "no reason given")") }
        return response
    }

    /// Opens the existing store; a missing database is an error that says how to make one.
    /// `readOnly` for commands that only read (no WAL write on open, no checkpoint on close).
    func openStore(readOnly: Bool = false) throws -> Store {
        let directory = directory
        guard directory.databaseExists else {
            throw CLIError("no database in \(directory.path). Start the daemon once (`syncd --data-dir \(directory.path)`) to create it.")
        }
        // Taken before anything opens the database (the format check below
        // does, and even a read-only open creates a missing -wal and -shm),
        // and held until the store has it: no restore replaces the file
        // meanwhile (StoreUseLock).
        let useLock: StoreUseLock?
        do { useLock = try StoreUseLock.shared(in: directory.url, readOnly: readOnly).lock } catch { throw CLIError("\(error)") }
        defer { withExtendedLifetime(useLock) {} }
        var options = Store.Options()
        options.readOnly = readOnly
        options.holdsUseLock = true
        // A read-only open that needs setup work (another schema hash, a
        // view layout to mend) falls back to a writing open, which would
        // mark an older file current: refused while an older daemon runs.
        let check = self
        options.beforeRaisingFormat = { _ in try check.refuseUpgradeUnderAnOlderDaemon() }
        // The device this data directory belongs to: a database copied in
        // from another machine takes a new replica id before its first
        // write, whether syncd or syncctl opens it first (replication-model §3.3).
        let device: String?
        do { device = try DeviceIdentity.existingDeviceID(in: directory.url)?.description } catch { throw CLIError("\(error)") }
        do {
            // The schema the dataset grew from (another team's, kept by
            // `init --schema`); a damaged one is an error, never the shipped one.
            let schema = try directory.seedSchema()
            // A first start that was cut short before the seed records were
            // in: they go in now (opening for writing), before anything reads.
            if !readOnly || directory.seedPending { try refuseUpgradeUnderAnOlderDaemon() }
            if directory.seedPending { _ = try directory.openStore(deviceID: device) }
            let store = try Store(path: directory.databasePath, schema: schema, deviceID: device, options: options)
            guard try store.hasPendingSQLEdits() else { return store }
            // Edits made to the collection tables with SQL while no daemon
            // took them up: written now, so this command sees them (docs/sql.md).
            if readOnly { try refuseUpgradeUnderAnOlderDaemon() }
            var writing = options
            writing.readOnly = false
            let writer = readOnly ? try Store(path: directory.databasePath, schema: schema, deviceID: device, options: writing) : store
            let report = try writer.takeUpSQLEdits(author: try resolvedAuthor())
            if !report.isEmpty {
                FileHandle.standardError.write(Data(SQLEditSummary.line(report).utf8))
                nudgeDaemon()
            }
            // As when the first of them fails: the command does not go on
            // without the edits it was to see.
            if let stopped = report.stoppedBy {
                throw CLIError("could not take up every SQL edit of the collection tables first (\(stopped)): those above are written, the rest stay queued; free disk space or end what holds the database, then run the command again")
            }
            return store
        } catch let error as CLIError { throw error } catch { throw CLIError("\(error)") }
    }
}

/// A failure with a message for the analyst; exits with status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Parses `COLLECTION/ID`.
func parseRecordRef(_ text: String) throws -> RecordRef {
    guard let ref = RecordRef(parsing: text) else {
        throw ValidationError("'\(text)' is not a record name: write COLLECTION/ID, for example agreements/green-minerals-initiative")
    }
    return ref
}

/// Runs a command body, turning store and schema errors into clear messages.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let error as CLIError {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch let error as ExitCode {
        throw error
    } catch {
        throw CLIError("\(error)")
    }
}
