import Foundation

/// Rewrites the `peers:` block of a config file and leaves every other line
/// (comments included) as the analyst wrote it. The result is parsed before
/// it is written, and written atomically, so a running daemon never reads a
/// half-edited file.
public struct PeerListEditor {
    public let path: String
    public let defaults: DaemonConfig

    public init(path: String, defaults: DaemonConfig) {
        self.path = path
        self.defaults = defaults
    }

    public func load() throws -> DaemonConfig {
        try DaemonConfig.load(from: URL(fileURLWithPath: path), defaults: defaults)
    }

    /// Replaces the peer list with `peers` and saves the file.
    public func save(_ peers: [PeerConfig]) throws {
        try AtomicFile.locked(path) { try write({ Self.replacingPeers(in: $0, with: peers) }, expecting: peers) }
    }

    /// Sets a top-level scalar key (for example `team_ca`) and saves the file.
    public func set(_ key: String, to value: String) throws {
        try ConfigTemplate.checkKeepable(value, key: key, path: path)
        try edit { text in
            var lines = text.components(separatedBy: "\n")
            let line = "\(key): \(ConfigTemplate.yamlString(value))"
            if let index = lines.firstIndex(where: { $0.hasPrefix("\(key):") }) {
                lines[index] = line
            } else {
                if lines.last == "" { lines.removeLast() }
                lines += [line, ""]
            }
            return lines.joined(separator: "\n")
        }
    }

    /// Loads the peers, lets `change` edit them and saves them, all under
    /// the config's lock: a daemon adding an invited device and `syncctl`
    /// adding another at the same moment keep both.
    @discardableResult
    public func updatePeers<T>(_ change: (inout [PeerConfig]) throws -> T) throws -> T {
        try AtomicFile.locked(path) {
            var peers = try load().peers
            let result = try change(&peers)
            try write({ Self.replacingPeers(in: $0, with: peers) }, expecting: peers)
            return result
        }
    }

    private func edit(_ change: (String) -> String) throws {
        try AtomicFile.locked(path) { try write(change) }
    }

    /// Reads, changes, checks and replaces the file (the caller holds the lock).
    /// With `peers`, the edited file must read back exactly those names, by
    /// bytes (a leading U+FEFF would be dropped on reading, making two peers
    /// of one name).
    private func write(_ change: (String) -> String, expecting peers: [PeerConfig]? = nil) throws {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigError(path: path, key: nil, message: "cannot read the file: \(error.localizedDescription)")
        }
        let edited = change(text)
        let parsed = try DaemonConfig.parse(edited, path: path, defaults: defaults)
        if let peers {
            guard parsed.peers.count == peers.count, zip(peers, parsed.peers).allSatisfy({ $0.deviceID == $1.deviceID }) else {
                throw ConfigError(path: path, key: "peers", message: "the edited peer list would not read back as written; nothing was saved")
            }
            for (given, read) in zip(peers, parsed.peers) where !UTF8Identity.equal(given.name, read.name) {
                throw ConfigError(path: path, key: "peers", message: "the peer name '\(read.name)' would not read back as given (it starts with U+FEFF?): choose another with --name")
            }
        }
        do {
            // The config's own mode is kept (it may hold nothing secret, but the analyst chose it).
            let mode = ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int).map { mode_t($0) } ?? 0o644
            try AtomicFile.write(Data(edited.utf8), to: path, mode: mode)
        } catch {
            throw ConfigError(path: path, key: nil, message: "cannot save the file: \(error)")
        }
    }

    /// The config text with its top-level `peers:` entry (the key line and the
    /// indented or `-` lines under it) replaced; appended when there is none.
    static func replacingPeers(in text: String, with peers: [PeerConfig]) -> String {
        var lines = text.components(separatedBy: "\n")
        let block = render(peers)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("peers:") }) else {
            if lines.last == "" { lines.removeLast() }
            return (lines + block + [""]).joined(separator: "\n")
        }
        var end = start + 1
        while end < lines.count, let first = lines[end].first, first == " " || first == "-" || first == "\t" { end += 1 }
        lines.replaceSubrange(start..<end, with: block)
        return lines.joined(separator: "\n")
    }

    static func render(_ peers: [PeerConfig]) -> [String] {
        guard !peers.isEmpty else { return ["peers: []"] }
        var lines = ["peers:"]
        for peer in peers {
            lines.append("  - name: \(ConfigTemplate.yamlString(peer.name))")
            lines.append("    device_id: \(peer.deviceID)")
            if let address = peer.address { lines.append("    address: \(ConfigTemplate.yamlString(address.description))") }
            lines.append("    mode: \(peer.mode.rawValue)")
        }
        return lines
    }
}
