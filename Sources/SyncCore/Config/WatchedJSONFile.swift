import Foundation
import Synchronization

/// A daemon's view of a `LockedJSONFile` that syncctl edits: read again when
/// the file changes (looked at, with one `stat`, at most once a second, and
/// at once on `reload`), so a check on every handshake costs no file read.
/// A file that cannot be read keeps what was read before (a damaged block
/// or revocation list does not let anyone back in) and is reported once
/// per change through `onProblem`.
public final class WatchedJSONFile<Content: Codable & Sendable>: Sendable {
    public let file: LockedJSONFile<Content>
    private struct State {
        var content: Content
        var version: FileVersion?
        var checked: Date
    }
    private let state: Mutex<State>

    private let onProblem: @Sendable (LockedJSONFileError) -> Void

    public init(file: LockedJSONFile<Content>, onProblem: @escaping @Sendable (LockedJSONFileError) -> Void = { _ in }) {
        self.file = file
        self.onProblem = onProblem
        state = Mutex(State(content: file.empty(), version: nil, checked: .distantPast))
        reload()
    }

    public func reload() {
        let version = FileVersion.of(file.path)
        do {
            let content = try file.loadChecked()
            state.withLock { $0 = State(content: content, version: version, checked: Date()) }
        } catch let error as LockedJSONFileError {
            state.withLock { $0.version = version; $0.checked = Date() }
            onProblem(error)
        } catch {
            state.withLock { $0.version = version; $0.checked = Date() }
        }
    }

    /// The content, re-read first if the file changed.
    public var current: Content {
        let stale = state.withLock { state in
            guard Date().timeIntervalSince(state.checked) >= 1 else { return false }
            state.checked = Date()
            return true
        }
        if stale, FileVersion.of(file.path) != state.withLock({ $0.version }) { reload() }
        return state.withLock { $0.content }
    }

    /// The content as last read, without looking at the file.
    public var cached: Content { state.withLock { $0.content } }

    /// The content, re-read first if the file changed since it was read
    /// (one `stat` every call, no throttle): for a check that must see an
    /// edit made a moment ago.
    public var fresh: Content {
        if FileVersion.of(file.path) != state.withLock({ $0.version }) { reload() }
        return state.withLock { $0.content }
    }
}
