import Foundation
import Logging
import SyncCore

/// What the web app reads and writes through: the daemon's store, its change
/// notifier and peer registry, and how to read the daemon's status.
public struct WebContext: Sendable {
    public let store: Store
    public let notifier: ChangeNotifier
    public let registry: PeerRegistry
    /// The author and device name that web edits are stamped with (the config's).
    public let identity: @Sendable () -> (author: String, deviceName: String)
    public let status: @Sendable () async throws -> DaemonStatus
    public let snapshotsDirectory: URL
    public let credentials: UICredentials
    public let logger: Logger
    let snapshotThrottle = SnapshotThrottle()

    public init(store: Store, notifier: ChangeNotifier, registry: PeerRegistry,
                identity: @escaping @Sendable () -> (author: String, deviceName: String),
                status: @escaping @Sendable () async throws -> DaemonStatus, snapshotsDirectory: URL,
                credentials: UICredentials, logger: Logger) {
        self.store = store
        self.notifier = notifier
        self.registry = registry
        self.identity = identity
        self.status = status
        self.snapshotsDirectory = snapshotsDirectory
        self.credentials = credentials
        self.logger = logger
    }
}

/// One snapshot from the web at a time, and at most one per minute.
final class SnapshotThrottle: @unchecked Sendable {
    static let minimumInterval: TimeInterval = 60
    private let lock = NSLock()
    private var running = false
    private var last: Date?

    func begin() -> Bool {
        lock.withLock {
            if running { return false }
            if let last, Date().timeIntervalSince(last) < Self.minimumInterval { return false }
            running = true
            return true
        }
    }

    func end() { lock.withLock { running = false; last = Date() } }
}
