import Foundation

/// A request on the control socket: one JSON object per line.
public struct ControlRequest: Codable, Sendable {
    public var command: String
    /// For `sync`: only this peer (name or device ID).
    public var peer: String?
    /// For `sync`: give up after this many seconds.
    public var timeout: Double?

    public init(command: String, peer: String? = nil, timeout: Double? = nil) {
        self.command = command
        self.peer = peer
        self.timeout = timeout
    }
}

/// The answer: `ok` with a status, or an error message.
public struct ControlResponse: Codable, Sendable {
    public var ok: Bool
    public var error: String?
    public var status: DaemonStatus?
    /// For `sync`: whether every peer asked for caught up before the timeout.
    public var caughtUp: Bool?
    /// For `ui-login`: the web app's address with a one-time login token.
    public var url: String?

    public init(ok: Bool, error: String? = nil, status: DaemonStatus? = nil, caughtUp: Bool? = nil, url: String? = nil) {
        self.ok = ok
        self.error = error
        self.status = status
        self.caughtUp = caughtUp
        self.url = url
    }
}

/// What `syncctl status` shows (documented in docs/operations.md; stable JSON).
public struct DaemonStatus: Codable, Sendable {
    public var deviceID: String
    public var deviceName: String
    public var replica: String
    public var listen: String
    public var dataDirectory: String
    public var startedAt: Date
    public var highestSeq: UInt64
    public var conflicts: Int
    public var refusedHandshakes: UInt64
    public var refusedReplicas: UInt64
    /// Received batches refused for breaking a limit (absent from older daemons).
    public var refusedBatches: UInt64?
    /// Sessions ended for a protocol violation or a peer that did not read.
    public var protocolViolations: UInt64?
    public var schemaProblems: Int
    /// Dots held with two contents (replication-model §2.3); absent from older daemons.
    public var dotCollisions: Int?
    /// SQL edits of the collection tables waiting and refused (docs/sql.md); absent from older daemons.
    public var sqlEdits: SQLEditCounts?
    /// Devices that asked to connect without being peers, not ignored
    /// (`syncctl peers pending`); absent from older daemons.
    public var pendingDevices: Int?
    /// Team-CA revocations held, and refused since start (bad signature or
    /// another CA's); absent from older daemons.
    public var revocations: RevocationCounts?
    /// Invitations open and claims refused by reason (`syncctl invite`); absent from older daemons.
    public var invitations: InvitationCounts?
    public var clockSkewedPeers: [ClockSkew]
    public var peers: [PeerRegistry.PeerStatus]
    /// LAN discovery, when the config turns it on (absent otherwise, and from older daemons).
    public var discovery: DiscoveryStatus?
    /// The dataset's lineage (its seed schema's name); absent from older daemons.
    public var dataset: String?

    public struct DiscoveryStatus: Codable, Sendable {
        public var port: Int
        /// Per configured peer, the addresses learned for it, most recently heard first.
        public var learned: [LearnedAddress]
    }

    public struct LearnedAddress: Codable, Sendable, Equatable {
        public var peer: String
        public var deviceID: String
        public var address: String
        public var lastSeen: Date
    }

    public struct RevocationCounts: Codable, Sendable {
        public var held: Int
        public var refused: UInt64

        public init(held: Int, refused: UInt64) {
            self.held = held
            self.refused = refused
        }
    }

    public struct InvitationCounts: Codable, Sendable {
        public var open: Int
        /// Refused claims since the daemon started, by reason (`unknown-invitation`, `already-used`, `expired`, `wrong-secret`, `malformed`).
        public var refused: [String: Int]

        public init(_ book: InvitationBook, refused: [String: Int], now: Date) {
            open = book.open(now: now).count
            self.refused = refused
        }
    }

    public struct ClockSkew: Codable, Sendable {
        public var replica: String
        public var peer: String?
        public var versions: Int
        public var maxAheadSeconds: Double
    }
}
