import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A device that dialed us without being a configured peer (docs/operations.md
/// "Pending devices"): never accepted on its own; `syncctl peers accept`
/// makes it a peer, `syncctl peers ignore` stops listing it.
public struct PendingDevice: Codable, Sendable, Equatable {
    public var deviceID: String
    /// The name in its certificate (what its owner called the device), cut and cleaned.
    public var name: String
    /// Where it dialed from (its address, not the port it listens on).
    public var address: String
    public var firstSeen: Date
    public var lastSeen: Date
    public var attempts: Int
    public var ignored: Bool
}

/// The pending devices (pure): recording an attempt, accepting, ignoring,
/// each bounded (`maxEntries`, `maxNameCharacters`): a stranger controls
/// all of it.
public struct PendingDeviceList: Codable, Sendable, Equatable {
    public private(set) var devices: [PendingDevice] = []

    /// Devices kept; past it the one seen longest ago goes (ignored ones last).
    public static let maxEntries = 100
    public static let maxNameCharacters = 64

    public init(devices: [PendingDevice] = []) { self.devices = devices }

    /// Notes one attempt by `device`.
    public mutating func record(_ device: DeviceID, name: String, address: String, at time: Date) {
        let id = device.description
        if let index = devices.firstIndex(where: { $0.deviceID == id }) {
            devices[index].lastSeen = time
            devices[index].attempts += 1
            devices[index].address = Self.clean(address, limit: 128)
            devices[index].name = Self.clean(name, limit: Self.maxNameCharacters)
            return
        }
        devices.append(PendingDevice(deviceID: id, name: Self.clean(name, limit: Self.maxNameCharacters), address: Self.clean(address, limit: 128),
                                     firstSeen: time, lastSeen: time, attempts: 1, ignored: false))
        while devices.count > Self.maxEntries {
            let victim = devices.indices.min { a, b in
                (devices[a].ignored ? 1 : 0, devices[a].lastSeen) < (devices[b].ignored ? 1 : 0, devices[b].lastSeen)
            }!
            devices.remove(at: victim)
        }
    }

    /// The device named by its ID or its name (a unique one), if pending.
    public func find(_ text: String) -> PendingDevice? {
        if let id = DeviceID(text) { return devices.first { $0.deviceID == id.description } }
        let named = devices.filter { $0.name == text }
        return named.count == 1 ? named[0] : nil
    }

    public mutating func remove(_ deviceID: String) { devices.removeAll { $0.deviceID == deviceID } }

    public mutating func ignore(_ deviceID: String) {
        for index in devices.indices where devices[index].deviceID == deviceID { devices[index].ignored = true }
    }

    /// Printable characters only (no control characters, no newlines), at
    /// most `limit` characters and 4 × `limit` bytes (one character can
    /// carry any number of combining marks).
    static func clean(_ text: String, limit: Int) -> String {
        UTF8Identity.fitting(String(String(text.unicodeScalars.filter { !$0.properties.generalCategory.isControlOrFormat }).prefix(limit)), maxBytes: 4 * limit)
    }
}

/// A small JSON file in the data directory, read and written under an
/// exclusive lock (syncd and syncctl both write it); unreadable or too
/// large, it reads as empty.
public struct LockedJSONFile<Content: Codable & Sendable>: Sendable {
    public let path: String
    /// The file's mode: 0600 for files that hold secrets.
    let permissions: Int
    let empty: @Sendable () -> Content
    /// A file larger than this is not read (it is not ours): treated as empty.
    public static var maxFileBytes: Int { 1 << 20 }

    public init(path: String, permissions: Int = 0o644, empty: @escaping @Sendable () -> Content) {
        self.path = path
        self.permissions = permissions
        self.empty = empty
    }

    /// The content; empty when the file is missing, and also when it cannot
    /// be read (for listing: `loadChecked` says why).
    public func load() -> Content { (try? loadChecked()) ?? empty() }

    /// The content, empty only when there is no file: a file that is too
    /// large or does not decode is an error, so that nobody writes over it
    /// (a block or revocation list must not be lost to a damaged file).
    public func loadChecked() throws -> Content {
        guard FileManager.default.fileExists(atPath: path) else { return empty() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LockedJSONFileError(path: path, reason: "cannot be read")
        }
        guard data.count <= Self.maxFileBytes else {
            throw LockedJSONFileError(path: path, reason: "is \(data.count) bytes, over the \(Self.maxFileBytes)-byte limit")
        }
        if data.isEmpty { return empty() }
        do { return try Self.decoder.decode(Content.self, from: data) } catch let problem as JSONContentProblem {
            var error = LockedJSONFileError(path: path, reason: problem.description)
            error.advice = problem.advice
            throw error
        } catch {
            throw LockedJSONFileError(path: path, reason: "is not what this build writes (\(error))")
        }
    }

    /// Reads, changes and writes the content under the lock; returns what
    /// `body` returns. A content that would not fit `maxFileBytes` is not
    /// written (the caller's change is refused whole).
    @discardableResult
    public func update<T>(_ body: (inout Content) throws -> T) throws -> T {
        try AtomicFile.locked(path) {
            var content = try loadChecked()
            let result = try body(&content)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            let data = try encoder.encode(content)
            guard data.count <= Self.maxFileBytes else {
                throw LockedJSONFileError(path: path, reason: "would grow to \(data.count) bytes, over the \(Self.maxFileBytes)-byte limit: the change was not made")
            }
            try AtomicFile.write(data, to: path, mode: mode_t(permissions))
            return result
        }
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// Content that decodes but must not be obeyed as it stands (thrown by a
/// content's `init(from:)`); its description says what to correct.
public protocol JSONContentProblem: Error, CustomStringConvertible {
    /// What the operator should do about it.
    var advice: String { get }
}

public struct LockedJSONFileError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    /// What to do; the reason says it already when the content must not be
    /// obeyed as it stands (moving a block list aside would unblock all).
    public var advice = "fix it, or move it aside to start it empty"
    public var description: String { "\(path) \(reason); it was left as it is: \(advice)" }

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// `pending-devices.json` in the data directory.
public typealias PendingDeviceFile = LockedJSONFile<PendingDeviceList>

extension LockedJSONFile where Content == PendingDeviceList {
    public init(directory: URL) {
        self.init(path: directory.appendingPathComponent("pending-devices.json").path, empty: { PendingDeviceList() })
    }
}
