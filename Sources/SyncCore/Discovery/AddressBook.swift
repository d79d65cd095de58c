import Foundation

/// The addresses LAN discovery learned for configured peers (pure: the time
/// is passed in). Kept in `learned-addresses.json` so they are tried first
/// after a restart too.
///
/// Rules (docs/operations.md, "LAN discovery"):
/// - only announcements of configured peers are learned; our own and
///   strangers' are ignored (a stranger is not dialed because it shouts);
/// - per peer at most `maxPerDevice` addresses, most recently heard first;
///   a new one beyond that replaces the one heard longest ago among those
///   never connected through, else the one heard longest ago;
/// - an address not heard for `maxAge` is forgotten;
/// - a dialer tries the learned addresses, most recently heard first, then
///   the configured one (`candidates`).
///
/// A forged announcement can add an address to a peer's list; dialing it
/// fails the TLS handshake (the device ID is pinned), and the dialer moves
/// on to the next candidate on its next attempt.
public struct AddressBook: Sendable, Equatable {
    public struct Learned: Sendable, Equatable, Codable {
        public var address: HostPort
        public var firstSeen: Date
        public var lastSeen: Date
        /// When a TLS session with the peer last opened through this address.
        public var lastConnected: Date?

        enum CodingKeys: String, CodingKey { case address, firstSeen, lastSeen, lastConnected }

        public init(address: HostPort, firstSeen: Date, lastSeen: Date, lastConnected: Date? = nil) {
            self.address = address
            self.firstSeen = firstSeen
            self.lastSeen = lastSeen
            self.lastConnected = lastConnected
        }

        public init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let text = try container.decode(String.self, forKey: .address)
            guard let address = HostPort(text) else {
                throw DecodingError.dataCorruptedError(forKey: .address, in: container, debugDescription: "'\(text)' is not HOST:PORT")
            }
            self.address = address
            firstSeen = try container.decode(Date.self, forKey: .firstSeen)
            lastSeen = try container.decode(Date.self, forKey: .lastSeen)
            lastConnected = try container.decodeIfPresent(Date.self, forKey: .lastConnected)
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(address.description, forKey: .address)
            try container.encode(firstSeen, forKey: .firstSeen)
            try container.encode(lastSeen, forKey: .lastSeen)
            try container.encodeIfPresent(lastConnected, forKey: .lastConnected)
        }
    }

    /// Per peer, most recently heard first.
    public private(set) var learned: [DeviceID: [Learned]] = [:]

    /// Addresses kept per peer (a peer with a wired and a wireless interface
    /// announces from both; more is a forger's churn).
    public static let maxPerDevice = 4
    /// An address not heard from for this long is forgotten (14 days).
    public static let maxAge: TimeInterval = 14 * 86_400

    public init() {}

    /// What one announcement did.
    public enum Outcome: Sendable, Equatable {
        /// Our own announcement, heard back.
        case own
        /// A device that is not a configured peer: ignored.
        case notAPeer
        /// A source no honest daemon sends from (see `AnnouncementSource`).
        case unusableSource
        /// An address not known for this peer: learned (`replaced`: the one it pushed out).
        case learned(HostPort, replaced: HostPort?)
        /// A known address heard again; `becameFirst` when it was not the most recent one.
        case refreshed(HostPort, becameFirst: Bool)

        /// Whether the set or order of addresses changed (worth saving at once).
        public var changesList: Bool {
            switch self {
            case .learned: true
            case .refreshed(_, let becameFirst): becameFirst
            case .own, .notAPeer, .unusableSource: false
            }
        }
    }

    /// Takes in one announcement heard from `source`.
    public mutating func receive(_ announcement: Announcement, from source: AnnouncementSource, own: DeviceID,
                                 peers: Set<DeviceID>, now: Date) -> Outcome {
        if announcement.device == own { return .own }
        guard peers.contains(announcement.device) else { return .notAPeer }
        guard let address = source.dialAddress(port: announcement.port) else { return .unusableSource }
        return heard(announcement.device, at: address, now: now)
    }

    mutating func heard(_ device: DeviceID, at address: HostPort, now: Date) -> Outcome {
        var list = learned[device] ?? []
        if let index = list.firstIndex(where: { $0.address == address }) {
            list[index].lastSeen = max(list[index].lastSeen, now)
            let wasFirst = index == 0
            learned[device] = Self.ordered(list)
            return .refreshed(address, becameFirst: !wasFirst && learned[device]?.first?.address == address)
        }
        var replaced: HostPort?
        if list.count >= Self.maxPerDevice {
            let victim = list.indices.min { a, b in
                (list[a].lastConnected == nil ? 0 : 1, list[a].lastSeen) < (list[b].lastConnected == nil ? 0 : 1, list[b].lastSeen)
            }!
            replaced = list.remove(at: victim).address
        }
        list.append(Learned(address: address, firstSeen: now, lastSeen: now))
        learned[device] = Self.ordered(list)
        return .learned(address, replaced: replaced)
    }

    /// Notes that a TLS session with `device` opened through `address` (a
    /// learned address so confirmed is the last to be pushed out).
    /// Returns whether anything changed.
    @discardableResult
    public mutating func connected(_ device: DeviceID, via address: HostPort, now: Date) -> Bool {
        guard var list = learned[device], let index = list.firstIndex(where: { $0.address == address }) else { return false }
        list[index].lastConnected = now
        learned[device] = list
        return true
    }

    /// Where to dial `device`, in order: learned addresses a session went
    /// through (most recent session first), then the configured one, then
    /// learned addresses never confirmed (most recently heard first); only
    /// those heard within `maxAge`, no repeats. What anyone on the LAN can
    /// add (an unconfirmed address) comes after what proved itself.
    public func candidates(for device: DeviceID, configured: HostPort?, now: Date) -> [HostPort] {
        let fresh = (learned[device] ?? []).filter { now.timeIntervalSince($0.lastSeen) <= Self.maxAge }
        let confirmed = fresh.filter { $0.lastConnected != nil }.sorted { $0.lastConnected! > $1.lastConnected! }
        let unconfirmed = fresh.filter { $0.lastConnected == nil }
        var result: [HostPort] = []
        for address in confirmed.map(\.address) + (configured.map { [$0] } ?? []) + unconfirmed.map(\.address) where !result.contains(address) {
            result.append(address)
        }
        return result
    }

    /// Drops peers no longer configured and addresses older than `maxAge`,
    /// and cuts each list to `maxPerDevice` (a file edited by hand).
    public mutating func prune(keeping peers: Set<DeviceID>, now: Date) {
        var next: [DeviceID: [Learned]] = [:]
        for (device, list) in learned where peers.contains(device) {
            let kept = Self.ordered(list.filter { now.timeIntervalSince($0.lastSeen) <= Self.maxAge })
            var unique: [Learned] = []
            for entry in kept where !unique.contains(where: { $0.address == entry.address }) { unique.append(entry) }
            if !unique.isEmpty { next[device] = Array(unique.prefix(Self.maxPerDevice)) }
        }
        learned = next
    }

    static func ordered(_ list: [Learned]) -> [Learned] {
        list.sorted { ($0.lastSeen, $0.firstSeen) > ($1.lastSeen, $1.firstSeen) }
    }
}

extension AddressBook: Codable {
    enum CodingKeys: String, CodingKey { case devices }

    /// `{"devices": {"DEVICE-ID": [{address, firstSeen, lastSeen, lastConnected}]}}`.
    /// A key that is not a device ID is dropped; a file that does not parse
    /// reads as empty and is written over (it is a cache), which costs only a
    /// rediscovery.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let devices = try container.decodeIfPresent([String: [Learned]].self, forKey: .devices) ?? [:]
        for (text, list) in devices {
            guard let device = DeviceID(text) else { continue }
            learned[device] = Self.ordered(list)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Dictionary(uniqueKeysWithValues: learned.map { ($0.key.description, $0.value) }), forKey: .devices)
    }
}

/// `learned-addresses.json` in the data directory (written by syncd only).
public typealias LearnedAddressFile = LockedJSONFile<AddressBook>

extension LockedJSONFile where Content == AddressBook {
    public init(directory: URL) {
        self.init(path: directory.appendingPathComponent("learned-addresses.json").path, empty: { AddressBook() })
    }
}
