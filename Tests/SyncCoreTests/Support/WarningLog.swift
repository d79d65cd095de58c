import Logging
import Synchronization

/// The message of every warning logged, each followed by its metadata
/// (`key=value`, sorted by key).
final class Warnings: Sendable {
    let list = Mutex<[String]>([])

    /// A logger whose warnings land in `list`.
    var logger: Logger { Logger(label: "test") { _ in WarningLog(warnings: self) } }
}

struct WarningLog: LogHandler {
    let warnings: Warnings
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        guard event.level == .warning else { return }
        let pairs = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        warnings.list.withLock { $0.append(([String(describing: event.message)] + pairs).joined(separator: " ")) }
    }
}
