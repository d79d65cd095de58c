import Foundation

/// Tells a running daemon that this process just committed local writes, so
/// it ships them at once instead of at its next `local_poll_ms` poll.
///
/// Best effort: with no daemon running (or an old one) nothing happens; the
/// writes are in the database either way and the poll finds them.
public enum LocalWriteNudge {
    public static func send(controlSocket socket: String) {
        guard FileManager.default.fileExists(atPath: socket) else { return }
        _ = try? ControlClient(path: socket).send(ControlRequest(command: "changed"), timeout: 1)
    }
}
