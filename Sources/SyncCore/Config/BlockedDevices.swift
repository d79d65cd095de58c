import Foundation

/// Devices shut out by `syncctl peers block` (docs/operations.md "A stolen
/// laptop"): refused at the TLS handshake even when the team CA signed
/// them, and disconnected at once.
public struct BlockedDevice: Codable, Sendable, Equatable {
    public var deviceID: String
    public var name: String
    public var reason: String
    public var blockedAt: Date
}

public struct BlockList: Codable, Sendable, Equatable {
    public private(set) var devices: [BlockedDevice] = []
    /// Devices kept; blocking more is refused (an operator's list, not a
    /// stranger's). At most ~420 bytes each in the file, so the list stays
    /// under `LockedJSONFile.maxFileBytes`.
    public static let maxEntries = 2_000

    public init(devices: [BlockedDevice] = []) { self.devices = devices }

    public func contains(_ device: DeviceID) -> Bool { devices.contains { $0.deviceID == device.description } }

    /// Adds (or updates) a block; false when the list is full.
    @discardableResult
    public mutating func block(_ device: DeviceID, name: String, reason: String, at time: Date) -> Bool {
        let entry = BlockedDevice(deviceID: device.description, name: PendingDeviceList.clean(name, limit: 64),
                                  reason: PendingDeviceList.clean(reason, limit: 500), blockedAt: time)
        if let index = devices.firstIndex(where: { $0.deviceID == entry.deviceID }) { devices[index] = entry; return true }
        guard devices.count < Self.maxEntries else { return false }
        devices.append(entry)
        return true
    }

    public mutating func unblock(_ device: DeviceID) -> Bool {
        let before = devices.count
        devices.removeAll { $0.deviceID == device.description }
        return devices.count != before
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
