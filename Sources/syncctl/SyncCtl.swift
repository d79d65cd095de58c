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
            """,
        subcommands: [Get.self, List.self, History.self, Conflicts.self, Digest.self])
}
