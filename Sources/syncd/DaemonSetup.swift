import Foundation
import Logging
import SyncCore

/// Everything `syncd` needs before it starts serving, created on first start.
struct DaemonSetup: Sendable {
    let directory: DataDirectory
    let configPath: String
    let configBox: ConfigBox
    let identity: DeviceIdentity
    let store: Store
    /// The schema the dataset grew from; its name is the lineage sent in the hello.
    let seedSchema: Schema
    let created: Bool
    let seeded: Bool
    let listenOverride: HostPort?
    let logger: Logger
    /// The config file's version when it was read at startup: an edit made
    /// between that read and the watcher's first look is reloaded.
    let configModified: FileVersion?
    /// Whether the config said `discovery: lan` at start: only then does the
    /// discovery service run (turned off and on again by reloads, it follows them).
    var discoveryRuns: Bool { discoveryAtStart == .lan }
    let discoveryAtStart: DaemonConfig.Discovery
    /// This daemon's claim on the data directory, held while it runs.
    let lock: DaemonLock

    /// `schemaFile` and `seedFile` (`--schema`, `--seed`) start another team's
    /// dataset in a new data directory; on one that holds it already they
    /// change nothing, on one that holds another dataset they are refused.
    static func prepare(dataDir: String?, configPath explicitConfig: String?, listen: String?, schemaFile: String? = nil, seedFile: String? = nil,
                        logger: Logger) throws -> DaemonSetup {
        let environment = ProcessInfo.processInfo.environment
        let directory = DataDirectory.resolve(explicit: dataDir, environment: environment)
        let created = !FileManager.default.fileExists(atPath: directory.path)

        let listenOverride = try listen.map { text -> HostPort in
            guard let value = HostPort(text) else { throw ConfigError(path: "--listen", key: nil, message: "'\(text)' is not HOST:PORT") }
            return value
        }
        let configPath = explicitConfig ?? environment["SYNCD_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } ?? directory.configPath
        if explicitConfig != nil, !FileManager.default.fileExists(atPath: configPath) {
            throw ConfigError(path: configPath, key: nil, message: "no such file")
        }
        let defaults = DaemonConfig.machineDefaults(environment: environment)
        let modifiedBeforeRead = FileVersion.of(configPath)
        // An existing config (environment included) is checked before anything is created.
        let existing = FileManager.default.fileExists(atPath: configPath)
            ? try Self.load(configPath, defaults: defaults, listen: listenOverride, environment: environment) : nil
        if let path = existing?.teamCA {
            do { _ = try TeamCA(path: path) } catch { throw ConfigError(path: configPath, key: "team_ca", message: "\(error)") }
        }
        var options = Store.Options()
        options.logger = logger
        if let existing { options.maxClockDriftMillis = UInt64(existing.maxClockDriftSeconds) * 1_000 }
        // Claimed before anything in the directory is read or written.
        let initialized = try DataDirectory.initialize(directory, configPath: configPath, defaults: defaults, listen: listenOverride,
                                                       schemaFile: schemaFile, seedFile: seedFile, options: options,
                                                       claimFor: DaemonLock.daemonStarting)
        // A config written just now is the template: it holds the defaults.
        let config = try existing ?? Self.load(configPath, defaults: defaults, listen: listenOverride, environment: environment)
        if initialized.created.contains("config") { logger.info("wrote a default config", metadata: ["path": "\(configPath)"]) }
        if initialized.created.contains("identity") { logger.info("created the device identity", metadata: ["device": "\(initialized.deviceID)"]) }
        if initialized.created.contains("schema") {
            logger.notice("started another team's dataset in the data directory", metadata: [
                "dataset": "\(SchemaLineage.display(initialized.seedSchema.name))", "schema": "\(schemaFile ?? "")", "seed": "\(seedFile ?? "none: it starts empty")"])
        } else if initialized.schemaAlreadyHeld, seedFile != nil {
            logger.notice("--schema names the dataset this data directory holds already; --seed only seeds a new database, so it was ignored")
        }
        guard let lock = initialized.lock else { throw DaemonLockError.cannotOpen(path: directory.path, reason: "not claimed") }
        let identity = initialized.identity
        let store = initialized.store
        let seeded = initialized.created.contains("database")
        warnOfLayoutProblems(store, logger: logger)
        return DaemonSetup(directory: directory, configPath: configPath, configBox: ConfigBox(config), identity: identity, store: store,
                           seedSchema: initialized.seedSchema,
                           created: created, seeded: seeded, listenOverride: listenOverride, logger: logger,
                           configModified: existing == nil ? FileVersion.of(configPath) : modifiedBeforeRead, discoveryAtStart: config.discovery,
                           lock: lock)
    }

    /// Says at start, once, when the database is not laid out as this build
    /// makes it (`syncctl check` names the problems and what mends each):
    /// a collection table keyed otherwise loses rows to syncd's writes, a
    /// trigger of someone's own fails every snapshot's verification.
    static func warnOfLayoutProblems(_ store: Store, logger: Logger) {
        guard let layout = try? store.layoutProblems(), !layout.isEmpty else { return }
        let problems = layout.storeTables + layout.uniqueIndexes + layout.collectionTableProblems + layout.snapshotBlockers
        logger.warning("the database is not laid out as syncd makes it; run `syncctl check` for what to do", metadata: [
            "problems": "\(problems.count)", "first": "\(problems.prefix(3).joined(separator: "; "))"])
    }

    static func load(_ path: String, defaults: DaemonConfig, listen: HostPort?, environment: [String: String]) throws -> DaemonConfig {
        var config = try DaemonConfig.load(from: URL(fileURLWithPath: path), defaults: defaults).applyingEnvironment(environment)
        if let listen { config.listen = listen }
        return config
    }

    /// Reloads the config when the file changes (peers added or removed take
    /// effect without a restart). A bad edit is logged and the old config kept.
    func watchConfig() async {
        var lastModified = configModified
        let defaults = DaemonConfig.machineDefaults()
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let modified = FileVersion.of(configPath)
            guard modified != lastModified else { continue }
            lastModified = modified
            do {
                let config = try Self.load(configPath, defaults: defaults, listen: listenOverride, environment: ProcessInfo.processInfo.environment)
                if config.discovery == .lan, configBox.config.discovery != .lan, !discoveryRuns {
                    logger.warning("LAN discovery turned on in the config; it starts when syncd restarts")
                }
                if config.listen != configBox.config.listen {
                    logger.warning("listen address changed in the config; it takes effect on restart", metadata: ["new": "\(config.listen)"])
                }
                configBox.replace(config)
                logger.info("config reloaded", metadata: ["peers": "\(config.peers.count)"])
            } catch {
                logger.error("config change ignored: \(error)")
            }
        }
    }
}
