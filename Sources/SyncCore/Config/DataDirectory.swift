import Foundation

/// Where a daemon keeps its database, identity and config.
///
/// Resolution order: an explicit path, `$SYNCD_DATA_DIR`, `$XDG_DATA_HOME/syncd`,
/// then `~/.local/share/syncd`. `syncd` and `syncctl` resolve it the same way.
public struct DataDirectory: Sendable {
    public let url: URL

    public init(url: URL) { self.url = url }

    public static func resolve(explicit: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) -> DataDirectory {
        if let explicit, !explicit.isEmpty { return DataDirectory(url: URL(fileURLWithPath: (explicit as NSString).expandingTildeInPath)) }
        if let path = environment["SYNCD_DATA_DIR"], !path.isEmpty { return DataDirectory(url: URL(fileURLWithPath: path)) }
        if let xdg = environment["XDG_DATA_HOME"], !xdg.isEmpty { return DataDirectory(url: URL(fileURLWithPath: xdg).appendingPathComponent("syncd")) }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        return DataDirectory(url: home.appendingPathComponent(".local/share/syncd"))
    }

    public var path: String { url.path }
    public var databasePath: String { url.appendingPathComponent("data.db").path }
    public var configPath: String { url.appendingPathComponent("config.yaml").path }
    public var controlSocketPath: String { url.appendingPathComponent("control.sock").path }
    /// Where `syncctl snapshot create` and scheduled snapshots go by default.
    public var snapshotsURL: URL { url.appendingPathComponent("snapshots") }
    public var databaseExists: Bool { FileManager.default.fileExists(atPath: databasePath) }

    /// Creates the directory (mode 0700: it holds the device key).
    public func create() throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Opens the store, creating and seeding it with the shipped dataset on first use.
    public func openStore(schema: Schema = .criticalMinerals, deviceID: String? = nil, options: Store.Options = Store.Options()) throws -> (store: Store, seeded: Bool) {
        try create()
        let isNew = !databaseExists
        let store = try Store(path: databasePath, schema: schema, deviceID: deviceID, options: options)
        if isNew, schema == .criticalMinerals {
            try store.seed(SeedData.criticalMinerals(schema: schema))
            return (store, true)
        }
        return (store, false)
    }
}
