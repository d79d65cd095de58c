import ArgumentParser
import Foundation
import SyncCore

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the data directory: identity, config and the seeded database; print the device ID.",
        discussion: """
            Safe to run again: what exists is kept (the config is not rewritten).

            Examples:
              syncctl init
              syncctl init --name ana-laptop --author "Ana Duarte" --listen 0.0.0.0:22870
              syncctl init --data-dir /tmp/analyst-b --listen 127.0.0.1:22872
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "This machine's name, shown to peers (default: the host name).") var name: String?
    @Option(help: ArgumentHelp("Address syncd listens on.", valueName: "host:port")) var listen: String?

    func validate() throws {
        if let listen, HostPort(listen) == nil { throw ValidationError("--listen '\(listen)' is not HOST:PORT, for example 127.0.0.1:22870") }
    }

    func run() throws {
        try reportingErrors {
            var defaults = DaemonConfig.machineDefaults()
            if let name { defaults.deviceName = name }
            if let author = global.author { defaults.author = author }
            let result = try DataDirectory.initialize(global.directory, configPath: global.configPath, defaults: defaults,
                                                      listen: listen.flatMap(HostPort.init))
            struct Output: Encodable { let deviceID: String; let dataDirectory: String; let config: String; let created: [String] }
            try global.emit(Output(deviceID: result.deviceID.description, dataDirectory: global.directory.path,
                                   config: global.configPath, created: result.created)) {
                print("device ID:      \(result.deviceID)")
                print("data directory: \(global.directory.path)")
                print("config:         \(global.configPath)")
                print(result.created.isEmpty ? "everything already existed; nothing changed" : "created: \(result.created.joined(separator: ", "))")
                print("next: start the daemon with `syncd --data-dir \(global.directory.path)` and add peers with `syncctl peers add`")
            }
        }
    }
}
