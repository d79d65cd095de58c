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

    /// Opens the store on this directory's seed schema (`seedSchema()`),
    /// creating and seeding it on first use: with `seed.json` beside
    /// `schema.json` (none: it starts empty), else with the shipped dataset.
    ///
    /// A new database is marked `seed-pending` before it is created and
    /// the mark removed once its seed records are in, so a seeding cut
    /// short (a crash, a full disk) is done again at the next open instead
    /// of leaving a database without its seed. Seeding twice changes nothing.
    /// `seeded` is true when this call did the seeding.
    public func openStore(deviceID: String? = nil, options: Store.Options = Store.Options()) throws -> (store: Store, seeded: Bool) {
        let schema = try seedSchema()
        try create()
        if !databaseExists {
            try AtomicFile.write(Data("data.db is new and gets its seed records; syncd and syncctl remove this file once they are in\n".utf8),
                                 to: seedPendingPath, mode: 0o600)
        }
        var options = options
        options.holdsUseLock = true
        let store = try Store(path: databasePath, schema: schema, deviceID: deviceID, options: options)
        guard seedPending else { return (store, false) }
        if let seed = try seedRecords(for: schema) { try store.seed(seed) }
        try clearSeedPending()
        return (store, true)
    }
}
