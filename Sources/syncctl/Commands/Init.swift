import ArgumentParser
import Foundation
import SyncCore

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the data directory: identity, config and the seeded database; print the device ID.",
        discussion: """
            Safe to run again: what exists is kept (the config is not rewritten).
            --discovery writes `discovery: lan` into the new config: the daemon then
            announces itself on the local network and finds its peers' addresses
            there (docs/operations.md, "LAN discovery"). Off without it.

            --schema starts another team's dataset instead of the shipped one: the file
            is checked (docs/schema.md) and kept in the data directory as schema.json;
            --seed gives its seed records (without it, the dataset starts empty). Every
            machine of the team uses the same two files. The schema's "name" is the
            dataset's lineage: daemons of two lineages refuse each other. A data directory
            keeps its dataset for good: --schema with another schema is refused there
            (docs/operations.md, "Another team's dataset").

            Examples:
              syncctl init
              syncctl init --name ana-laptop --author "Ana Duarte" --listen 0.0.0.0:22870
              syncctl init --data-dir /tmp/analyst-b --listen 127.0.0.1:22872
              syncctl init --discovery --listen 0.0.0.0:22870
              syncctl init --data-dir ~/trade-desk --schema team.json --seed seed.json
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "This machine's name, shown to peers (default: the host name).") var name: String?
    @Option(help: ArgumentHelp("Address syncd listens on.", valueName: "host:port")) var listen: String?
    @Flag(help: "Turn on LAN discovery in the new config (`discovery: lan`): peers are found on the local network.") var discovery = false
    @Option(help: ArgumentHelp("Start another team's dataset on this schema file instead of the shipped one (kept as schema.json).", valueName: "file"))
    var schema: String?
    @Option(help: ArgumentHelp("With --schema: the dataset's seed records (without it, the dataset starts empty).", valueName: "file"))
    var seed: String?

    func validate() throws {
        if let listen, HostPort(listen) == nil { throw ValidationError("--listen '\(listen)' is not HOST:PORT, for example 127.0.0.1:22870") }
        if seed != nil, schema == nil { throw ValidationError(DatasetError.seedOptionWithoutSchema.description) }
    }

    func run() throws {
        try reportingErrors {
            var defaults = DaemonConfig.machineDefaults()
            if let name { defaults.deviceName = name }
            if let author = global.author { defaults.author = author }
            // Run again on a directory whose database an older syncd holds: the
            // open below would mark the file with this build's format.
            if global.directory.databaseExists { try global.refuseUpgradeUnderAnOlderDaemon() }
            let result = try DataDirectory.initialize(global.directory, configPath: global.configPath, defaults: defaults,
                                                      listen: listen.flatMap(HostPort.init), discovery: discovery ? .lan : .off,
                                                      schemaFile: schema, seedFile: seed)
            let mode = (try? DaemonConfig.load(from: URL(fileURLWithPath: global.configPath), defaults: defaults).discovery) ?? .off
            struct Output: Encodable {
                let deviceID: String; let dataDirectory: String; let config: String; let created: [String]; let discovery: String; let dataset: String
            }
            let records = (try? result.store.recordCounts().values.reduce(0, +)) ?? 0
            try global.emit(Output(deviceID: result.deviceID.description, dataDirectory: global.directory.path,
                                   config: global.configPath, created: result.created, discovery: mode.rawValue, dataset: result.seedSchema.name)) {
                print("device ID:      \(result.deviceID)")
                print("data directory: \(global.directory.path)")
                print("config:         \(global.configPath)")
                let kept = FileManager.default.fileExists(atPath: global.directory.schemaPath)
                print("dataset:        \(SchemaLineage.display(result.seedSchema.name))\(kept ? " (schema.json in the data directory)" : " (shipped)"), \(records) records")
                if result.schemaAlreadyHeld, seed != nil {
                    print("note: the data directory holds this dataset already; --seed only seeds a new database, so it was ignored")
                }
                print(result.created.isEmpty ? "everything already existed; nothing changed" : "created: \(result.created.joined(separator: ", "))")
                print("discovery:      \(mode.rawValue)")
                if discovery, mode != .lan {
                    print("note: the config already existed and was kept; to turn LAN discovery on, set `discovery: lan` in \(global.configPath)")
                }
                if mode == .lan, let listen = try? DaemonConfig.load(from: URL(fileURLWithPath: global.configPath), defaults: defaults).listen,
                   !AnnouncementTargets.announces(listen: listen) {
                    print("note: syncd listens on \(listen), which peers on the network cannot reach, so it will not announce itself; use --listen 0.0.0.0:\(DaemonConfig.defaultPort)")
                }
                print("next: start the daemon with `syncd --data-dir \(global.directory.path)` and add peers with `syncctl peers add`")
            }
        }
    }
}
