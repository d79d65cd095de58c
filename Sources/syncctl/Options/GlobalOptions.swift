import ArgumentParser
import Foundation
import SyncCore

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Data directory (default: $SYNCD_DATA_DIR, $XDG_DATA_HOME/syncd or ~/.local/share/syncd).", valueName: "dir"))
    var dataDir: String?

    var directory: DataDirectory { DataDirectory.resolve(explicit: dataDir) }

    /// Opens the existing store; a missing database is an error that says how to make one.
    func openStore() throws -> Store {
        let directory = directory
        guard directory.databaseExists else {
            throw CLIError("no database in \(directory.path). Start the daemon once (`syncd --data-dir \(directory.path)`) to create it.")
        }
        do { return try Store(path: directory.databasePath) } catch { throw CLIError("\(error)") }
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
