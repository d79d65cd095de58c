import Foundation
import Yams

/// `syncd`'s configuration: one YAML file (`config.yaml` in the data directory
/// by default), overridable by environment variables and flags.
///
/// Loading checks every value; a bad file is refused as a whole with the key
/// and the fix, so the daemon never starts half-configured.
public struct DaemonConfig: Sendable, Equatable {
    public var listen: HostPort
    public var author: String
    public var deviceName: String
    public var peers: [PeerConfig]
    public var teamCA: String?
    public var batchMaxSlots: Int
    public var batchMaxBytes: Int
    public var maxFrameBytes: Int
    public var reconnectInitialMillis: Int
    public var reconnectMaxMillis: Int
    public var keepaliveSeconds: Double
    public var idleTimeoutSeconds: Double
    /// How long one frame may take to arrive whole (a trickled frame is cut).
    public var frameTimeoutSeconds: Double
    public var digestIntervalSeconds: Double
    public var localPollMillis: Int
    public var maxClockDriftSeconds: Int
    public var metrics: HostPort?
    /// Where the web app is served (`ui`, default 127.0.0.1:22880); nil turns it off.
    public var ui: HostPort?
    public var snapshots: SnapshotSchedule
    /// LAN discovery (docs/operations.md "LAN discovery"): off unless the
    /// file says `discovery: lan`. No environment variable or flag turns it
    /// on, so nothing but the config file makes a daemon broadcast.
    public var discovery: Discovery
    /// The UDP port announcements are sent to and heard on.
    public var discoveryPort: Int
    /// Seconds between two announcements.
    public var discoveryIntervalSeconds: Double
    /// Joining by snapshot (replication-model §4.6).
    public var join: JoinSettings

    public struct JoinSettings: Sendable, Equatable {
        /// Ask a peer for a snapshot when at least this many seqs behind it
        /// (and holding at most a quarter as many of our own); 0: never.
        public var minBehindSeqs: Int = 50_000
        /// The largest snapshot a peer may send (a bigger one is refused and pulled instead).
        public var maxSnapshotBytes: Int = 64 << 30
        /// Snapshots this daemon takes for joining peers in an hour (each is a
        /// copy of the database on its disk); more are refused, and those peers pull.
        public var servedPerHour: Int = 10
    }

    public static let defaultPort = 22_870
    public static let defaultUIPort = 22_880
    public static let defaultDiscoveryPort = 21_127

    /// Whether the daemon announces itself on the local network and learns
    /// its peers' addresses from their announcements.
    public enum Discovery: String, Sendable, Equatable, CaseIterable {
        case off
        case lan
    }

    public struct SnapshotSchedule: Sendable, Equatable {
        public var intervalMinutes: Int?
        public var retain: Int
        public var directory: String?
    }

    public init(deviceName: String, author: String) {
        listen = HostPort(host: "127.0.0.1", port: Self.defaultPort)
        self.author = author
        self.deviceName = deviceName
        peers = []
        teamCA = nil
        batchMaxSlots = 2_000
        batchMaxBytes = 1 << 20
        maxFrameBytes = 16 << 20
        reconnectInitialMillis = 500
        reconnectMaxMillis = 30_000
        keepaliveSeconds = 10
        idleTimeoutSeconds = 30
        frameTimeoutSeconds = 120
        digestIntervalSeconds = 60
        localPollMillis = 200
        maxClockDriftSeconds = 600
        metrics = nil
        ui = HostPort(host: "127.0.0.1", port: Self.defaultUIPort)
        snapshots = SnapshotSchedule(intervalMinutes: nil, retain: 7, directory: nil)
        discovery = .off
        discoveryPort = Self.defaultDiscoveryPort
        discoveryIntervalSeconds = 30
        join = JoinSettings()
    }

    /// Defaults for this machine: its host name and the login name.
    public static func machineDefaults(environment: [String: String] = ProcessInfo.processInfo.environment) -> DaemonConfig {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "syncd"
        return DaemonConfig(deviceName: host, author: environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "analyst")
    }

    public func peer(_ device: DeviceID) -> PeerConfig? { peers.first { $0.deviceID == device } }

    /// Loads `url` over the defaults; errors name the key and the fix.
    public static func load(from url: URL, defaults: DaemonConfig) throws -> DaemonConfig {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ConfigError(path: url.path, key: nil, message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(text, path: url.path, defaults: defaults)
    }

    public static func parse(_ text: String, path: String, defaults: DaemonConfig) throws -> DaemonConfig {
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch {
            throw ConfigError(path: path, key: nil, message: "not valid YAML: \(error)")
        }
        guard let map = (root ?? [String: Any]()) as? [String: Any] else {
            throw ConfigError(path: path, key: nil, message: "the top level must be a mapping of keys to values")
        }
        var config = defaults
        var reader = ConfigReader(path: path, map: map, prefix: "")
        if let value = try reader.string("listen") { config.listen = try reader.hostPort("listen", value) }
        if let value = try reader.string("author") { config.author = value }
        if let value = try reader.string("device_name") { config.deviceName = value }
        if let value = try reader.string("team_ca"), !value.isEmpty {
            let expanded = NSString(string: value).expandingTildeInPath
            config.teamCA = expanded.hasPrefix("/") ? expanded : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(expanded).path
        }
        if let value = try reader.string("metrics") { config.metrics = value.isEmpty ? nil : try reader.hostPort("metrics", value) }
        if let value = try reader.string("ui") { config.ui = value.isEmpty ? nil : try reader.hostPort("ui", value) }
        // A frame must carry the largest slot a replica may store (twice, with room).
        config.maxFrameBytes = try reader.int("max_frame_bytes", in: (2 * ReceiveLimits().maxSlotBytes + (1 << 20))...(256 << 20)) ?? config.maxFrameBytes
        config.keepaliveSeconds = try reader.double("keepalive_seconds", in: 0.1...3_600) ?? config.keepaliveSeconds
        config.idleTimeoutSeconds = try reader.double("idle_timeout_seconds", in: 0.5...86_400) ?? config.idleTimeoutSeconds
        config.frameTimeoutSeconds = try reader.double("frame_timeout_seconds", in: 0.5...86_400) ?? config.frameTimeoutSeconds
        config.digestIntervalSeconds = try reader.double("digest_interval_seconds", in: 0.1...86_400) ?? config.digestIntervalSeconds
        config.localPollMillis = try reader.int("local_poll_ms", in: 10...60_000) ?? config.localPollMillis
        config.maxClockDriftSeconds = try reader.int("max_clock_drift_seconds", in: 1...86_400) ?? config.maxClockDriftSeconds
        config.discovery = try reader.discovery("discovery") ?? config.discovery
        config.discoveryPort = try reader.int("discovery_port", in: 1_024...65_535) ?? config.discoveryPort
        config.discoveryIntervalSeconds = try reader.double("discovery_interval_seconds", in: 0.2...3_600) ?? config.discoveryIntervalSeconds
        if var batch = try reader.section("batch") {
            config.batchMaxSlots = try batch.int("max_slots", in: 1...SyncMessageCodec.maxSlotsPerMessage) ?? config.batchMaxSlots
            config.batchMaxBytes = try batch.int("max_bytes", in: 1_024...(128 << 20)) ?? config.batchMaxBytes
            try batch.finish()
        }
        if var join = try reader.section("join") {
            config.join.minBehindSeqs = try join.int("min_behind_seqs", in: 0...Int(Int64.max >> 1)) ?? config.join.minBehindSeqs
            config.join.maxSnapshotBytes = try join.int("max_snapshot_bytes", in: (1 << 20)...(1 << 50)) ?? config.join.maxSnapshotBytes
            config.join.servedPerHour = try join.int("served_per_hour", in: 0...1_000) ?? config.join.servedPerHour
            try join.finish()
        }
        if var reconnect = try reader.section("reconnect") {
            config.reconnectInitialMillis = try reconnect.int("initial_ms", in: 10...600_000) ?? config.reconnectInitialMillis
            config.reconnectMaxMillis = try reconnect.int("max_ms", in: 10...3_600_000) ?? config.reconnectMaxMillis
            try reconnect.finish()
        }
        if var snapshots = try reader.section("snapshots") {
            config.snapshots.intervalMinutes = try snapshots.int("interval_minutes", in: 1...525_600)
            config.snapshots.retain = try snapshots.int("retain", in: 1...10_000) ?? config.snapshots.retain
            config.snapshots.directory = try snapshots.string("directory")
            try snapshots.finish()
        }
        if let list = try reader.list("peers") {
            config.peers = try list.enumerated().map { index, item in
                guard let map = item as? [String: Any] else {
                    throw ConfigError(path: path, key: "peers[\(index)]", message: "each peer is a mapping with device_id, name, address and mode")
                }
                var peer = ConfigReader(path: path, map: map, prefix: "peers[\(index)].")
                guard let idText = try peer.string("device_id") else {
                    throw ConfigError(path: path, key: "peers[\(index)].device_id", message: "missing: give the peer's device ID (`syncctl id` on its machine prints it)")
                }
                guard let id = DeviceID(idText) else {
                    throw ConfigError(path: path, key: "peers[\(index)].device_id", message: "'\(idText)' is not a device ID: 52 base32 characters in groups, as `syncctl id` prints it")
                }
                let name = try peer.string("name") ?? id.short
                let address = try peer.string("address").map { try peer.hostPort("address", $0) }
                let modeText = try peer.string("mode") ?? PeerMode.sendReceive.rawValue
                guard let mode = PeerMode(rawValue: modeText) else {
                    throw ConfigError(path: path, key: "peers[\(index)].mode", message: "'\(modeText)' is not a mode: use send-receive, send-only or receive-only")
                }
                try peer.finish()
                return PeerConfig(deviceID: id, name: name, address: address, mode: mode)
            }
            var seen = Set<DeviceID>()
            for peer in config.peers where !seen.insert(peer.deviceID).inserted {
                throw ConfigError(path: path, key: "peers", message: "device \(peer.deviceID.short)… is listed twice")
            }
        }
        try reader.finish()
        if config.reconnectMaxMillis < config.reconnectInitialMillis {
            throw ConfigError(path: path, key: "reconnect.max_ms", message: "must be at least reconnect.initial_ms (\(config.reconnectInitialMillis))")
        }
        return config
    }

    /// Applies `SYNCD_*` environment variables (they win over the file).
    public func applyingEnvironment(_ environment: [String: String]) throws -> DaemonConfig {
        var config = self
        if let value = environment["SYNCD_LISTEN"], !value.isEmpty {
            guard let hostPort = HostPort(value) else { throw ConfigError(path: "environment", key: "SYNCD_LISTEN", message: "'\(value)' is not HOST:PORT") }
            config.listen = hostPort
        }
        if let value = environment["SYNCD_AUTHOR"], !value.isEmpty { config.author = value }
        if let value = environment["SYNCD_DEVICE_NAME"], !value.isEmpty { config.deviceName = value }
        if let value = environment["SYNCD_METRICS"] {
            if value.isEmpty { config.metrics = nil } else {
                guard let hostPort = HostPort(value) else { throw ConfigError(path: "environment", key: "SYNCD_METRICS", message: "'\(value)' is not HOST:PORT") }
                config.metrics = hostPort
            }
        }
        if let value = environment["SYNCD_UI"] {
            if value.isEmpty { config.ui = nil } else {
                guard let hostPort = HostPort(value) else { throw ConfigError(path: "environment", key: "SYNCD_UI", message: "'\(value)' is not HOST:PORT") }
                config.ui = hostPort
            }
        }
        return config
    }
}

/// What a daemon does with one peer (replication-model §6), enforced on both ends.
public enum PeerMode: String, Sendable, Codable, CaseIterable {
    /// Both ways (default).
    case sendReceive = "send-receive"
    /// This daemon sends its changes to the peer and takes none from it.
    case sendOnly = "send-only"
    /// This daemon takes the peer's changes and sends it none.
    case receiveOnly = "receive-only"

    public var sends: Bool { self != .receiveOnly }
    public var receives: Bool { self != .sendOnly }
}

/// One configured peer.
public struct PeerConfig: Sendable, Equatable {
    public var deviceID: DeviceID
    public var name: String
    /// Where to dial it; nil when only the peer dials us.
    public var address: HostPort?
    public var mode: PeerMode

    public init(deviceID: DeviceID, name: String, address: HostPort?, mode: PeerMode) {
        self.deviceID = deviceID
        self.name = name
        self.address = address
        self.mode = mode
    }
}

extension PeerConfig {
    /// A peer name for `device` that no other peer has: `preferred` cleaned
    /// (spaces become dashes; empty becomes the ID's first group), with the
    /// start of the device ID appended when another device holds it.
    public static func uniqueName(_ preferred: String, for device: DeviceID, among peers: [PeerConfig]) -> String {
        let cleaned = ScalarText.replacing(" ", with: "-", in: PendingDeviceList.clean(preferred, limit: PendingDeviceList.maxNameCharacters))
        let name = cleaned.isEmpty ? device.short : cleaned
        guard peers.contains(where: { $0.name == name && $0.deviceID != device }) else { return name }
        return "\(name)-\(device.short.prefix(4))"
    }
}

/// `HOST:PORT` (IPv6 as `[::1]:PORT`).
public struct HostPort: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65_535).contains(port) else { return nil }
        self.init(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A config problem: the file, the key, and what to do.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let path: String
    public let key: String?
    public let message: String

    public init(path: String, key: String?, message: String) {
        self.path = path
        self.key = key
        self.message = message
    }

    public var description: String {
        if let key { return "config \(path): \(key): \(message)" }
        return "config \(path): \(message)"
    }
}

/// Typed access to a YAML mapping that remembers which keys were read, so
/// unknown (misspelt) keys are reported instead of silently ignored.
struct ConfigReader {
    let path: String
    let map: [String: Any]
    let prefix: String
    private var used = Set<String>()

    init(path: String, map: [String: Any], prefix: String) {
        self.path = path
        self.map = map
        self.prefix = prefix
    }

    private func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(path: path, key: prefix + key, message: message)
    }

    mutating func raw(_ key: String) -> Any? {
        used.insert(key)
        guard let value = map[key], !(value is NSNull) else { return nil }
        return value
    }

    mutating func string(_ key: String) throws -> String? {
        guard let value = raw(key) else { return nil }
        if let text = value as? String { return text }
        if let number = value as? Int { return String(number) }
        throw error(key, "must be text")
    }

    mutating func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = raw(key) else { return nil }
        guard let number = value as? Int else { throw error(key, "must be a whole number") }
        guard range.contains(number) else { throw error(key, "\(number) is out of range: use \(range.lowerBound)…\(range.upperBound)") }
        return number
    }

    mutating func double(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        guard let value = raw(key) else { return nil }
        let number: Double
        if let double = value as? Double { number = double } else if let int = value as? Int { number = Double(int) } else {
            throw error(key, "must be a number")
        }
        guard range.contains(number) else { throw error(key, "\(number) is out of range: use \(range.lowerBound)…\(range.upperBound)") }
        return number
    }

    /// `off` or `lan`. Unquoted, YAML reads `off` (and `no`, `false`) as a
    /// boolean false, which means off; a boolean true (`on`, `yes`, `true`)
    /// is refused, because it does not say which discovery.
    mutating func discovery(_ key: String) throws -> DaemonConfig.Discovery? {
        guard let value = raw(key) else { return nil }
        if let flag = value as? Bool {
            if !flag { return .off }
            throw error(key, "'\(value)' does not say which discovery: use lan (or off)")
        }
        guard let text = value as? String, let mode = DaemonConfig.Discovery(rawValue: text) else {
            throw error(key, "'\(value)' is not a discovery mode: use off or lan")
        }
        return mode
    }

    mutating func section(_ key: String) throws -> ConfigReader? {
        guard let value = raw(key) else { return nil }
        guard let map = value as? [String: Any] else { throw error(key, "must be a mapping") }
        return ConfigReader(path: path, map: map, prefix: prefix + key + ".")
    }

    mutating func list(_ key: String) throws -> [Any]? {
        guard let value = raw(key) else { return nil }
        guard let list = value as? [Any] else { throw error(key, "must be a list") }
        return list
    }

    func hostPort(_ key: String, _ text: String) throws -> HostPort {
        guard let value = HostPort(text) else { throw error(key, "'\(text)' is not HOST:PORT (for example 127.0.0.1:\(DaemonConfig.defaultPort))") }
        return value
    }

    /// Fails on keys that were never read: a typo must not pass silently.
    func finish() throws {
        let unknown = Set(map.keys).subtracting(used).sorted()
        if let first = unknown.first {
            let known = used.sorted()
            let hint = closestName(to: first, among: known).map { " (did you mean '\($0)'?)" } ?? ""
            throw ConfigError(path: path, key: prefix + first, message: "unknown key\(hint)")
        }
    }
}
