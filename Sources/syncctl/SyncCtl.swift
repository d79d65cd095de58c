import ArgumentParser
import SyncCore

@main
struct SyncCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "syncctl",
        abstract: "Read and edit the replicated critical-minerals dataset.",
        discussion: """
            Works on the database in the data directory directly, so it works offline,
            with the daemon running or not.

            Examples:
              syncctl list agreements
              syncctl get agreements/green-minerals-initiative
              syncctl history countries/cn notes
              syncctl digest
              syncctl peers add QX3F-...-7B2A --address 127.0.0.1:22871 --name bob
              syncctl status
            """,
        subcommands: [Id.self, Peers.self, TeamCACommand.self, Status.self, Sync.self, Get.self, List.self, Create.self, Set.self, Delete.self, History.self, Conflicts.self, Digest.self])
}
