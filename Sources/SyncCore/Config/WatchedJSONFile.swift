import Foundation
import Synchronization

/// A daemon's view of a `LockedJSONFile` that syncctl edits: read again when
/// the file changes (looked at, with one `stat`, at most once a second, and
/// at once on `reload`), so a check on every handshake costs no file read.
public final class WatchedJSONFile<Content: Codable & Sendable>: Sendable {
    public let file: LockedJSONFile<Content>
    private struct State {
        var content: Content
        var version: FileVersion?
        var checked: Date
    }
    private let state: Mutex<State>

    struct FileVersion: Equatable {
        let modified: Date?
        let inode: Int?
        let size: Int?
    }

    public init(file: LockedJSONFile<Content>) {
        self.file = file
        state = Mutex(State(content: file.load(), version: Self.version(of: file.path), checked: Date()))
    }

    public func reload() {
        let version = Self.version(of: file.path)
        let content = file.load()
        state.withLock { $0 = State(content: content, version: version, checked: Date()) }
    }

    /// The content, re-read first if the file changed.
    public var current: Content {
        let stale = state.withLock { state in
            guard Date().timeIntervalSince(state.checked) >= 1 else { return false }
            state.checked = Date()
            return true
        }
        if stale, Self.version(of: file.path) != state.withLock({ $0.version }) { reload() }
        return state.withLock { $0.content }
    }

    static func version(of path: String) -> FileVersion? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        return FileVersion(modified: attributes[.modificationDate] as? Date, inode: attributes[.systemFileNumber] as? Int,
                           size: attributes[.size] as? Int)
    }
}
