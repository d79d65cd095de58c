import Synchronization
import Foundation

/// The daemon's current config, replaced when the file changes on disk.
public final class ConfigBox: Sendable {
    private let state: Mutex<(config: DaemonConfig, generation: Int)>

    public init(_ config: DaemonConfig) { state = Mutex((config, 0)) }

    public var config: DaemonConfig { state.withLock { $0.config } }
    public var generation: Int { state.withLock { $0.generation } }

    public func replace(_ config: DaemonConfig) {
        state.withLock { state in
            state.config = config
            state.generation += 1
        }
    }
}
