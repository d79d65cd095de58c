import ArgumentParser
import Foundation
import SyncCore

@main
struct SyncCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "syncctl",
        abstract: "Read and edit the replicated critical-minerals dataset, resolve conflicts, look after syncd.",
        discussion: """
            Works on the database in the data directory directly, so it works offline,
            with the daemon running or not; `status` and `sync` ask the running daemon.
            Records are named COLLECTION/ID. Every command takes --json.

            Exit status: 0 success, 1 error, 2 usage error, 3 open conflicts
            (`conflicts --exit-code`).

            Examples:
              syncctl init --name ana-laptop --author "Ana Duarte"
              syncctl list agreements --where status=active
              syncctl get agreements/green-minerals-initiative
              syncctl set agreements/us-cn-trade-truce-2025 status=suspended
              syncctl conflicts
              syncctl resolve agreements/green-minerals-initiative status --pick 2
              syncctl export --collection agreements --format csv --output agreements.csv
              syncctl peers add QX3F-...-7B2A --address 127.0.0.1:22871 --name bo
              syncctl status
            """,
        subcommands: [Init.self, Id.self, Peers.self, Status.self, Sync.self,
                      Get.self, List.self, Create.self, Set.self, Delete.self,
                      Import.self, Export.self, Conflicts.self, Resolve.self, History.self,
                      Check.self, Digest.self, SQLCommand.self, Watch.self, Snapshot.self, Invite.self, Join.self, TeamCACommand.self, SchemaCommand.self, UI.self])

    /// Runs a command with the documented exit codes: ArgumentParser's usage
    /// errors (64 by default) become 2; errors for the analyst are 1.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = error is CLIError || error is ExitCode ? "\(error)" : fullMessage(for: error)
            if !message.isEmpty, !(error is ExitCode) {
                FileHandle.standardError.write(Data("\(error is CLIError ? "error: " : "")\(message)\n".utf8))
            }
            switch error {
            case let exit as ExitCode: Foundation.exit(exit.rawValue)
            case is CLIError: Foundation.exit(1)
            default: Foundation.exit(code == .validationFailure || code.rawValue == 64 ? 2 : 1)
            }
        }
    }
}
