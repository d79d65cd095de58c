import Foundation

/// Live state of every peer: connection, lag, traffic, problems. Read by the
/// control socket (`syncctl status`) and the metrics endpoint.
public actor PeerRegistry {
    public struct PeerStatus: Sendable, Codable, Equatable {
        public var name: String
        public var deviceID: String
        public var address: String?
        public var mode: String
        public var state: String = "disconnected"
        public var replica: String?
        public var remoteDeviceName: String?
        public var connectedSince: Date?
        public var lastSync: Date?
        public var lastError: String?
        public var cursor: UInt64 = 0
        public var remoteHighestSeq: UInt64 = 0
        public var caughtUp = false
        public var bytesIn: UInt64 = 0
        public var bytesOut: UInt64 = 0
        public var slotsReceived: UInt64 = 0
        public var slotsSent: UInt64 = 0
        /// Slots not sent because the peer said it already holds them
        /// (gossip without duplicates, replication-model §4.7). Optional in
        /// JSON: a status from an older daemon has none.
        public var slotsHeld: UInt64? = 0
        public var futureVersions: UInt64 = 0
        public var schemaProblems: UInt64 = 0
        public var schemaMismatch = false
        /// The peer's dataset lineage when its last hello was refused for
        /// holding another dataset (`HelloRules.lineageRefusal`); nil once a
        /// hello of this dataset arrives.
        public var otherDataset: String?
        public var digestMismatches: UInt64 = 0
        /// Joining by snapshot from this peer, or serving one to it: what is
        /// happening or last happened (replication-model §4.6).
        public var join: String?
        /// Accepted because the team CA signed its certificate.
        public var viaTeamCA = false

        /// Slots the peer has that this replica has not merged yet.
        public var lag: UInt64 { remoteHighestSeq > cursor ? remoteHighestSeq - cursor : 0 }
    }

    private var peers: [DeviceID: PeerStatus] = [:]
    /// Active sessions per device, with who dialed (for the duplicate tie-break).
    private var sessions: [DeviceID: (id: UUID, dialedBy: DeviceID)] = [:]
    public private(set) var refusedHandshakes: UInt64 = 0
    public private(set) var refusedReplicas: UInt64 = 0
    /// Batches refused for breaking a receive limit, and sessions ended for
    /// a protocol violation or for not reading.
    public private(set) var refusedBatches: UInt64 = 0
    public private(set) var protocolViolations: UInt64 = 0
    private var syncRequests: UInt64 = 0

    public init() {}

    /// Brings the list in line with the config (keeps counters of known peers).
    /// Returns the sessions to close: peers removed from the config, and peers
    /// whose mode changed (they reconnect under the new mode).
    @discardableResult
    public func configure(_ configs: [PeerConfig]) -> [UUID] {
        let byDevice = Dictionary(configs.map { ($0.deviceID, $0) }, uniquingKeysWith: { first, _ in first })
        let stale = sessions.compactMap { device, session -> UUID? in
            if let config = byDevice[device] { return peers[device].map { $0.mode != config.mode.rawValue && !$0.viaTeamCA } == true ? session.id : nil }
            return peers[device]?.viaTeamCA == true ? nil : session.id
        }
        let listed = Set(configs.map(\.deviceID))
        var next = peers.filter { entry in entry.value.viaTeamCA && !listed.contains(entry.key) }
        for config in configs {
            var status = peers[config.deviceID] ?? PeerStatus(name: config.name, deviceID: config.deviceID.description, mode: config.mode.rawValue)
            status.name = config.name
            status.address = config.address?.description
            status.mode = config.mode.rawValue
            status.viaTeamCA = false
            next[config.deviceID] = status
        }
        peers = next
        return stale
    }

    /// Lists a peer that just connected, if the registry has not caught up
    /// with the config yet or the team CA vouched for it (it is not in the config).
    public func admit(_ config: PeerConfig, viaTeamCA: Bool) {
        guard peers[config.deviceID] == nil else { return }
        var status = PeerStatus(name: config.name, deviceID: config.deviceID.description, mode: config.mode.rawValue)
        status.address = config.address?.description
        status.viaTeamCA = viaTeamCA
        peers[config.deviceID] = status
    }

    public func update(_ device: DeviceID, _ change: (inout PeerStatus) -> Void) {
        guard var status = peers[device] else { return }
        change(&status)
        peers[device] = status
    }

    public func status() -> [PeerStatus] { peers.values.sorted { $0.name < $1.name } }

    public func status(of device: DeviceID) -> PeerStatus? { peers[device] }

    public func countRefusedHandshake() { refusedHandshakes += 1 }
    public func countRefusedReplica() { refusedReplicas += 1 }
    public func countRefusedBatch() { refusedBatches += 1 }
    public func countProtocolViolation() { protocolViolations += 1 }

    /// Registers a session. When two connections join the same pair of devices,
    /// both sides keep the one dialed by the smaller device ID; returns the id of
    /// the session to close, if any.
    public func register(session: UUID, device: DeviceID, dialedBy: DeviceID) -> UUID? {
        guard let existing = sessions[device] else {
            sessions[device] = (session, dialedBy)
            return nil
        }
        guard HelloRules.replaces(existingDialedBy: existing.dialedBy, newDialedBy: dialedBy) else { return session }
        sessions[device] = (session, dialedBy)
        return existing.id
    }

    public func unregister(session: UUID, device: DeviceID) {
        if sessions[device]?.id == session { sessions[device] = nil }
    }

    public func isConnected(_ device: DeviceID) -> Bool { sessions[device] != nil }

    /// The session registered for `device`, if any.
    public func session(of device: DeviceID) -> UUID? { sessions[device]?.id }

    /// Bumped by `syncctl sync`: sessions run a digest check at once.
    public func requestSync() { syncRequests += 1 }
    public var syncRequestCount: UInt64 { syncRequests }
}
