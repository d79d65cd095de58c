import Foundation

extension DataDirectory {
    public struct Initialized: Sendable {
        public let identity: DeviceIdentity
        public let store: Store
        /// The schema the dataset grew from; its name is the lineage.
        public let seedSchema: Schema
        public var deviceID: DeviceID { identity.deviceID }
        /// What this call created: "directory", "schema" (another team's
        /// dataset started), "identity", "config", "database".
        public let created: [String]
        /// `--schema` named the schema the directory held already: nothing
        /// changed, and a `--seed` given with it was not used.
        public let schemaAlreadyHeld: Bool
        /// The directory's lock, when asked for (`claimFor`).
        public let lock: DaemonLock?
    }

    /// Creates whatever is missing of a data directory: the directory (0700),
    /// the device identity, a commented config and the seeded database.
    /// Shared by `syncd`'s first start and `syncctl init`; a new config says
    /// `discovery` (off unless `syncctl init --discovery`). With `schemaFile`
    /// (and `seedFile`), a new directory starts another team's dataset
    /// (`startDataset`: both files are checked before anything is created);
    /// a directory that holds another dataset is refused, untouched.
    public static func initialize(_ directory: DataDirectory, configPath: String, defaults: DaemonConfig, listen: HostPort?,
                                  discovery: DaemonConfig.Discovery = .off, schemaFile: String? = nil, seedFile: String? = nil,
                                  options: Store.Options = Store.Options(), claimFor holder: String? = nil) throws -> Initialized {
        if !FileManager.default.fileExists(atPath: configPath) {
            // Checked before anything is created: the config written below must read back the same names.
            try ConfigTemplate.checkKeepable(defaults.author, key: "author", path: configPath)
            try ConfigTemplate.checkKeepable(defaults.deviceName, key: "device_name", path: configPath)
        }
        var created: [String] = []
        let isNew = !FileManager.default.fileExists(atPath: directory.path)
        if isNew { created.append("directory") }
        // Claimed (`holder`: a daemon) before anything in it is read or
        // written; a new directory refused below is removed again, lock and all.
        var lock: DaemonLock?
        if let holder {
            try directory.create()
            lock = try DaemonLock(directory: directory.url, holder: holder)
            // (The daemon renames itself running once its start has taken up a crash's leftovers.)
        }
        var alreadyHeld = false
        do {
            if let schemaFile {
                switch try directory.startDataset(schemaFile: schemaFile, seedFile: seedFile) {
                case .started: created.append("schema")
                case .alreadyHeld: alreadyHeld = true
                }
            } else if seedFile != nil {
                throw DatasetError.seedOptionWithoutSchema
            } else {
                _ = try directory.seedSchema()  // a damaged dataset is refused before anything is added to it
            }
        } catch {
            if isNew, lock != nil {
                unlink(directory.url.appendingPathComponent(DaemonLock.fileName).path)
                rmdir(directory.path)
            }
            throw error
        }
        try directory.create()
        if !FileManager.default.fileExists(atPath: configPath) {
            let text = ConfigTemplate.text(deviceName: defaults.deviceName, author: defaults.author, listen: listen ?? defaults.listen,
                                           discovery: discovery)
            try Data(text.utf8).write(to: URL(fileURLWithPath: configPath))
            created.append("config")
        }
        let config = try DaemonConfig.load(from: URL(fileURLWithPath: configPath), defaults: defaults)
        let (identity, newIdentity) = try DeviceIdentity.loadOrCreate(in: directory.url, deviceName: config.deviceName)
        if newIdentity { created.append("identity") }
        let (store, seeded) = try directory.openStore(deviceID: identity.deviceID.description, options: options)
        if seeded { created.append("database") }
        return Initialized(identity: identity, store: store, seedSchema: store.seed, created: created, schemaAlreadyHeld: alreadyHeld,
                           lock: lock)
    }
}
