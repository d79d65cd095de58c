import Foundation

/// Devices shut out by `syncctl peers block` (docs/operations.md "A stolen
/// laptop"): refused at the TLS handshake even when the team CA signed
/// them, and disconnected at once.
public struct BlockedDevice: Codable, Sendable, Equatable {
    public var deviceID: String
    public var name: String
    public var reason: String
    public var blockedAt: Date

    /// Whether this entry's id is `device` (compared as bytes; an id that
    /// does not read as one names no device).
    func names(_ device: DeviceID) -> Bool { DeviceID(deviceID)?.bytes == device.bytes }
}

public struct BlockList: Codable, Sendable, Equatable {
    public private(set) var devices: [BlockedDevice] = []
    /// Devices kept; blocking more is refused (an operator's list, not a
    /// stranger's). At most ~420 bytes each in the file, so the list stays
    /// under `LockedJSONFile.maxFileBytes`.
    public static let maxEntries = 2_000

    public init(devices: [BlockedDevice] = []) { self.devices = devices }

    enum CodingKeys: String, CodingKey { case devices }

    /// An entry whose id does not read as a device id (typed by hand with
    /// an en dash, `0` for `O`) would block nothing, without a word: the
    /// whole list is refused instead, so the daemon does not start on it,
    /// and a running one keeps the list it read before and logs why.
    public init(from decoder: Decoder) throws {
        devices = try decoder.container(keyedBy: CodingKeys.self).decode([BlockedDevice].self, forKey: .devices)
        if let at = devices.firstIndex(where: { DeviceID($0.deviceID) == nil }) {
            throw UnreadableBlockEntry(position: at + 1, entry: devices[at])
        }
    }

    /// By the id's bytes, not its text: an entry written by hand in another
    /// form of the same id (lower case, no dashes, as `DeviceID` reads
    /// everywhere) still blocks it.
    public func contains(_ device: DeviceID) -> Bool { devices.contains { $0.names(device) } }

    /// Adds (or updates) a block; false when the list is full.
    @discardableResult
    public mutating func block(_ device: DeviceID, name: String, reason: String, at time: Date) -> Bool {
        let entry = BlockedDevice(deviceID: device.description, name: PendingDeviceList.clean(name, limit: 64),
                                  reason: PendingDeviceList.clean(reason, limit: 500), blockedAt: time)
        if let index = devices.firstIndex(where: { $0.names(device) }) { devices[index] = entry; return true }
        guard devices.count < Self.maxEntries else { return false }
        devices.append(entry)
        return true
    }

    public mutating func unblock(_ device: DeviceID) -> Bool {
        let before = devices.count
        devices.removeAll { $0.names(device) }
        return devices.count != before
    }
}

/// A block-list entry whose device id names no device.
public struct UnreadableBlockEntry: JSONContentProblem {
    public let position: Int
    public let entry: BlockedDevice
    public var description: String {
        "has an entry (number \(position), \"\(PendingDeviceList.clean(entry.name, limit: 64))\") whose deviceID \"\(PendingDeviceList.clean(entry.deviceID, limit: 80))\" is not a device id, so it would block nothing "
            + "(a device id is 52 letters A-Z and digits 2-7, in groups of 4 joined by '-', as `syncctl id` prints it on that device)"
    }
    /// Not "move it aside": an empty list unblocks every device on it.
    public var advice: String {
        "correct that entry by hand; do not move the file aside, which would unblock every device in it"
    }
}

/// `blocked-devices.json` in the data directory.
public typealias BlockListFile = LockedJSONFile<BlockList>

extension LockedJSONFile where Content == BlockList {
    public init(directory: URL) {
        self.init(path: directory.appendingPathComponent("blocked-devices.json").path, empty: { BlockList() })
    }
}

/// The daemon's view of the block list (re-read when the file changes).
public typealias BlockedDevices = WatchedJSONFile<BlockList>

extension WatchedJSONFile where Content == BlockList {
    public func contains(_ device: DeviceID) -> Bool { current.contains(device) }
    public var devices: [BlockedDevice] { current.devices }
}
