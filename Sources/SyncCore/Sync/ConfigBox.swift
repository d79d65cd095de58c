import Foundation

/// The daemon's current config, replaced when the file changes on disk.
public final class ConfigBox: @unchecked Sendable {
    private let lock = NSLock()
    private var _config: DaemonConfig
    private var _generation = 0

    public init(_ config: DaemonConfig) { _config = config }

    public var config: DaemonConfig { lock.withLock { _config } }
    public var generation: Int { lock.withLock { _generation } }

    public func replace(_ config: DaemonConfig) {
        lock.withLock {
            _config = config
            _generation += 1
        }
    }
}
