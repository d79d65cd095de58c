import Foundation

extension DataDirectory {
    public struct Initialized: Sendable {
        public let identity: DeviceIdentity
        public let store: Store
        public var deviceID: DeviceID { identity.deviceID }
        /// What this call created: "directory", "identity", "config", "database".
        public let created: [String]
    }

    /// Creates whatever is missing of a data directory: the directory (0700),
    /// the device identity, a commented config and the seeded database.
    /// Shared by `syncd`'s first start and `syncctl init`; a new config says
    /// `discovery` (off unless `syncctl init --discovery`).
    public static func initialize(_ directory: DataDirectory, configPath: String, defaults: DaemonConfig, listen: HostPort?,
                                  discovery: DaemonConfig.Discovery = .off, options: Store.Options = Store.Options()) throws -> Initialized {
        var created: [String] = []
        if !FileManager.default.fileExists(atPath: directory.path) { created.append("directory") }
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
        return Initialized(identity: identity, store: store, created: created)
    }
}
