import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SyncCore
import SyncWeb

@main
struct Syncd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "syncd",
        abstract: "The replication daemon: keeps this analyst's copy of the team's dataset (critical minerals unless started on another schema) in sync with peers.",
        discussion: """
            With no arguments it uses the default data directory ($SYNCD_DATA_DIR, else
            $XDG_DATA_HOME/syncd, else ~/.local/share/syncd). The first start creates the
            directory, the device key and certificate, a commented config.yaml and the
            seeded database; later starts reuse them. It runs until SIGINT or SIGTERM.

            --schema FILE [--seed FILE] make the first start begin another team's dataset
            instead of the shipped one (docs/operations.md, "Another team's dataset");
            later starts need neither. On a data directory that holds another dataset
            they are refused. Peers of another dataset are refused at hello.

            Examples:
              syncd
              syncd --data-dir /tmp/analyst-a --listen 127.0.0.1:22871 --ui 127.0.0.1:22881
              syncd --ui ""        # without the web app
              SYNCD_AUTHOR=ana syncd --config ~/syncd.yaml
              syncd --data-dir ~/trade-desk --schema team.json --seed seed.json
            """)

    @Option(name: .long, help: ArgumentHelp("Data directory (database, identity, default config).", valueName: "dir"))
    var dataDir: String?

    @Option(name: .long, help: ArgumentHelp("Config file (default: config.yaml in the data directory, or $SYNCD_CONFIG).", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Address for peers, overriding the config (for example 127.0.0.1:22871).", valueName: "host:port"))
    var listen: String?

    @Option(name: .long, help: ArgumentHelp("Address of the web app, overriding the config (default 127.0.0.1:22880; \"\" turns it off).", valueName: "host:port"))
    var ui: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: ArgumentHelp("First start: another team's dataset on this schema file instead of the shipped one (kept as schema.json in the data directory).", valueName: "file"))
    var schema: String?

    @Option(name: .long, help: ArgumentHelp("First start, with --schema: the dataset's seed records (without it, it starts empty).", valueName: "file"))
    var seed: String?

    func validate() throws {
        if seed != nil, schema == nil { throw ValidationError(DatasetError.seedOptionWithoutSchema.description) }
    }

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "syncd")
        let setup: DaemonSetup
        do {
            setup = try DaemonSetup.prepare(dataDir: dataDir, configPath: config, listen: listen, schemaFile: schema, seedFile: seed, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("syncd: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let prometheus = PrometheusCollectorRegistry()
        if setup.configBox.config.metrics != nil {
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: prometheus))
        }
        let node = try SyncNode(store: setup.store, identity: setup.identity, config: setup.configBox, configPath: setup.configPath,
                                lineage: setup.seedSchema.name, logger: logger)
        // What a crash left is taken up (`SyncNode`): a syncctl write that
        // meets a copy it cannot read may now take it for a join in progress.
        setup.lock.name(DaemonLock.daemonRunning)
        let config = setup.configBox.config
        let statusReader = ControlServer(node: node, path: setup.directory.controlSocketPath, dataDirectory: setup.directory.path, logger: logger)
        let web: WebUI?
        do {
            web = try makeWebUI(setup: setup, node: node, status: { try await statusReader.status() }, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("syncd: \(error)\n".utf8))
            throw ExitCode.failure
        }
        let control = statusReader.adding("ui-login") { _ in
            guard let web else {
                return ControlResponse(ok: false, error: "the web app is off on this daemon: set `ui:` in the config (or start syncd with --ui 127.0.0.1:22880)")
            }
            guard let url = web.loginURL() else { return ControlResponse(ok: false, error: "the web app is still starting; try again in a moment") }
            return ControlResponse(ok: true, url: url)
        }

        let replica = try setup.store.replicaID
        let records = try setup.store.recordCounts().values.reduce(0, +)
        // Bound before the listener says `listening:`: whoever waits for
        // that line may run `syncctl` at once.
        let controlSocket: ControlServer.BoundControlSocket
        do {
            controlSocket = try await control.bind()
        } catch {
            FileHandle.standardError.write(Data("syncd: \(error)\n".utf8))
            throw ExitCode.failure
        }

        // LAN discovery sends nothing unless this config says `discovery: lan`
        // (no flag or environment variable turns it on).
        let discovery = setup.discoveryRuns
            ? LANDiscovery(device: setup.identity.deviceID, config: setup.configBox, addresses: node.addresses, logger: logger,
                           instance: UInt64.random(in: 1...UInt64.max))
            : nil
        var services: [Service] = [
            LoopService("listener") {
                try await node.runListener { address in
                    discovery?.listening(on: address)
                    say("listening:      \(address.ipAddress ?? "?"):\(address.port ?? 0)")
                    say("running; stop with Ctrl-C or SIGTERM")
                }
            },
            LoopService("dialers") { await node.runDialers() },
            LoopService("local-writes") { await node.notifier.pollForeignWrites(every: .milliseconds(config.localPollMillis), logger: logger) },
            LoopService("kept-aside") { await node.retryKeptAsideFolds() },
            LoopService("config-watch") { await setup.watchConfig() },
            LoopService("control") { try await control.serve(controlSocket) },
        ]
        if let web {
            services.append(LoopService("web") {
                try await web.run { url in
                    say("web app:        \(url)/ (log in with `syncctl ui --open`)")
                    logger.info("web app listening", metadata: ["url": "\(url)/"])
                }
            })
        }
        if let discovery {
            services.append(LoopService("discovery") { await discovery.run() })
        }
        if let minutes = config.snapshots.intervalMinutes {
            let directory = config.snapshots.directory.map { URL(fileURLWithPath: $0) } ?? setup.directory.snapshotsURL
            let scheduler = SnapshotScheduler(store: setup.store, directory: directory, intervalMinutes: minutes, retain: config.snapshots.retain, logger: logger)
            services.append(LoopService("snapshots") { try await scheduler.run() })
        }
        if let metrics = config.metrics {
            services.append(LoopService("metrics") { try await MetricsServer(registry: prometheus, address: metrics, logger: logger).run() })
            services.append(LoopService("metrics-refresh") {
                while !Task.isCancelled {
                    if let count = try? await Blocking.run({ try setup.store.conflictCount() }) { node.metrics.conflictsOpen(count) }
                    try await Task.sleep(for: .seconds(5))
                }
            })
        }

        say("syncd \(SyncdVersion.string)")
        say("device ID:      \(setup.identity.deviceID)")
        say("device name:    \(config.deviceName)")
        say("author:         \(config.author)")
        say("data directory: \(setup.directory.path)\(setup.created ? " (new)" : "")")
        say("config:         \(setup.configPath)")
        say("replica:        \(replica)")
        let dataset = SchemaLineage.display(setup.seedSchema.name)
        say("dataset:        \(dataset)\(FileManager.default.fileExists(atPath: setup.directory.schemaPath) ? " (schema.json in the data directory)" : " (shipped)")")
        say("records:        \(records)\(setup.seeded ? records == 0 ? " (a new, empty \(dataset) dataset)" : " (seeded with the \(dataset) dataset)" : "")")
        say("discovery:      \(config.discovery == .lan ? "lan (UDP port \(config.discoveryPort))" : "off")")
        say("peers:          \(config.peers.isEmpty ? "none yet (add them with `syncctl peers add`)" : config.peers.map(\.name).joined(separator: ", "))")

        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        do {
            try await group.run()
        } catch {
            logger.critical("stopping: \(error)")
            FileHandle.standardError.write(Data("syncd: \(error)\n".utf8))
            throw ExitCode.failure
        }
        logger.info("stopped")
    }
}

extension Syncd {
    /// The web app, unless turned off (`--ui ""` or `ui: ""`); throws when its
    /// address is not allowed (non-loopback without a password).
    func makeWebUI(setup: DaemonSetup, node: SyncNode, status: @escaping @Sendable () async throws -> DaemonStatus, logger: Logger) throws -> WebUI? {
        var address = setup.configBox.config.ui
        if let ui {
            if ui.isEmpty { address = nil } else {
                guard let parsed = HostPort(ui) else { throw ConfigError(path: "--ui", key: nil, message: "'\(ui)' is not HOST:PORT (or \"\" to turn the web app off)") }
                address = parsed
            }
        }
        guard let address else { return nil }
        let config = setup.configBox
        let snapshots = config.config.snapshots.directory.map { URL(fileURLWithPath: $0) } ?? setup.directory.snapshotsURL
        let context = WebContext(store: setup.store, notifier: node.notifier, registry: node.registry,
                                 identity: { (config.config.author, config.config.deviceName) },
                                 status: status, snapshotsDirectory: snapshots,
                                 credentials: UICredentials(directory: setup.directory), logger: logger)
        return try WebUI(address: address, context: context, identity: setup.identity, logger: logger)
    }
}

/// Writes a line to standard output at once (stdout may be a pipe to a supervisor).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

enum SyncdVersion {
    static let string = "0.2.0"
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A long-running loop as a service; cancelled on graceful shutdown. Database
/// work already handed to SQLite finishes or rolls back as one transaction.
struct LoopService: Service {
    let name: String
    let body: @Sendable () async throws -> Void

    init(_ name: String, _ body: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.body = body
    }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await body() }
        } catch {
            // Cancellation is how a graceful shutdown reaches a loop; anything
            // else is a real failure and stops the daemon with its reason.
            if error is CancellationError || Task.isShuttingDownGracefully || Task.isCancelled { return }
            throw ServiceFailure(service: name, underlying: error)
        }
    }
}

struct ServiceFailure: Error, CustomStringConvertible {
    let service: String
    let underlying: Error
    var description: String { "\(service) failed: \(underlying)" }
}
