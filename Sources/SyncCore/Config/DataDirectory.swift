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

    /// The seed schema of another team's dataset, kept here by `init --schema`.
    public var schemaPath: String { url.appendingPathComponent("schema.json").path }
    /// Its seed records (`init --seed`).
    public var seedPath: String { url.appendingPathComponent("seed.json").path }

    /// The schema this data directory's dataset grew from: `schema.json`
    /// here when `init --schema` put one, else the shipped one.
    public func seedSchema() throws -> Schema {
        guard FileManager.default.fileExists(atPath: schemaPath) else { return .criticalMinerals }
        return try Schema.load(contentsOf: URL(fileURLWithPath: schemaPath))
    }

    /// Keeps another team's schema (and seed) in a new data directory: checked
    /// first, refused once a database exists (its dataset has a schema already).
    public func adopt(schemaFile: String, seedFile: String?) throws {
        let schema = try Schema.load(contentsOf: URL(fileURLWithPath: schemaFile))
        var seedData: Data?
        if let seedFile {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: seedFile)) } catch {
                throw SchemaError.unreadableSchema(path: seedFile, reason: error.localizedDescription)
            }
            _ = try SeedData.parse(data, schema: schema, source: seedFile)
            seedData = data
        }
        let schemaData = try Data(contentsOf: URL(fileURLWithPath: schemaFile))
        if FileManager.default.fileExists(atPath: schemaPath), (try? Data(contentsOf: URL(fileURLWithPath: schemaPath))) == schemaData { return }
        guard !databaseExists else {
            throw SchemaError.invalidSchema(path: schemaFile, reason: "\(path) holds a dataset already (on schema '\((try? seedSchema().name) ?? "?")'); start another team's dataset in a new data directory")
        }
        try create()
        try AtomicFile.write(schemaData, to: schemaPath, mode: 0o644)
        if let seedData { try AtomicFile.write(seedData, to: seedPath, mode: 0o644) }
    }

    /// Opens the store, creating and seeding it on first use: with the
    /// shipped dataset, or with `seed.json` of another team's schema.
    public func openStore(deviceID: String? = nil, options: Store.Options = Store.Options()) throws -> (store: Store, seeded: Bool) {
        try create()
        let schema = try seedSchema()
        let isNew = !databaseExists
        let store = try Store(path: databasePath, schema: schema, deviceID: deviceID, options: options)
        guard isNew else { return (store, false) }
        if schema == .criticalMinerals {
            try store.seed(SeedData.criticalMinerals(schema: schema))
            return (store, true)
        }
        if FileManager.default.fileExists(atPath: seedPath) {
            try store.seed(SeedData.parse(Data(contentsOf: URL(fileURLWithPath: seedPath)), schema: schema, source: seedPath))
            return (store, true)
        }
        return (store, false)
    }
}
