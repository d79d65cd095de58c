import Foundation
#if canImport(Glibc)
import Glibc
private let systemClose = Glibc.close
#elseif canImport(Darwin)
import Darwin
private let systemClose = Darwin.close
#endif

/// A process's use of a data directory's database: a `flock` on
/// `store.lock` beside it, shared while a `Store` has the database open
/// (`Store.Options.holdsUseLock`: `syncd`, every `syncctl` command) and
/// exclusive while `snapshot restore` replaces the file.
///
/// SQLite finds a database's WAL by name (`data.db-wal`), not by file: a
/// process that opened the old `data.db` before a restore renamed the
/// restored file over it would write its commits into a WAL that the next
/// opener reads as the restored file's (a corrupt or silently mixed
/// database). With the shared lock taken before the open and held until
/// the close, a restore finds every such process (it is refused, naming the
/// fix) and every later open waits for nothing but meets the new file.
///
/// Taken without waiting: a restore is refused while a command runs, and a
/// command while a restore runs, each with a message that says what to do.
public final class StoreUseLock: Sendable {
    public static let fileName = "store.lock"

    public enum Mode: Sendable { case shared, exclusive }

    private let descriptor: Int32

    /// Takes the lock of the database in `directory` in `mode`, or throws
    /// `StoreUseLockError`. The file is created readable by all (mode 0644),
    /// so another account that may read the database can take it shared.
    public init(directory: URL, mode: Mode) throws {
        let path = directory.appendingPathComponent(Self.fileName).path
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        // Another account's file: a shared lock needs only read access.
        if fd < 0, errno == EACCES, mode == .shared { fd = open(path, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { throw StoreUseLockError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 else {
            let code = errno
            _ = systemClose(fd)
            guard code == EWOULDBLOCK else { throw StoreUseLockError.cannotOpen(path: path, reason: String(cString: strerror(code))) }
            throw mode == .shared ? StoreUseLockError.beingReplaced(directory: directory.path)
                                  : StoreUseLockError.inUse(directory: directory.path)
        }
        descriptor = fd
    }

    deinit { _ = systemClose(descriptor) }
}

public enum StoreUseLockError: Error, CustomStringConvertible, Equatable {
    /// A restore holds the lock exclusive.
    case beingReplaced(directory: String)
    /// Another process has the database open.
    case inUse(directory: String)
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case .beingReplaced(let directory):
            return "a snapshot restore is replacing the database in \(directory) (\(StoreUseLock.fileName)); try again when it is done"
        case .inUse(let directory):
            return "another process has the database in \(directory) open (\(StoreUseLock.fileName)): end it first (a `syncctl watch`, `sql` or other command still running; `fuser \(directory)/data.db` names it), then restore again"
        case .cannotOpen(let path, let reason):
            return "cannot take the database's use lock \(path): \(reason); check the directory's owner and permissions"
        }
    }
}
