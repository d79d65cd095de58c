import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
private let systemClose = Glibc.close
#elseif canImport(Darwin)
import Darwin
private let systemClose = Darwin.close
#endif

/// A process's use of a data directory's database: a `flock` on
/// `store.lock` beside it, shared while the process has the database open
/// (`Store.Options.holdsUseLock`: `syncd`, every `syncctl` command, which
/// takes it before it reads anything of the database) and exclusive while
/// `snapshot restore` replaces the file.
///
/// SQLite finds a database's WAL by name (`data.db-wal`), not by file: a
/// process that opened the old `data.db` before a restore renamed the
/// restored file over it would write its commits into a WAL that the next
/// opener reads as the restored file's (a corrupt or silently mixed
/// database). Even a read-only open creates a missing `-wal` and `-shm`.
/// With the shared lock taken before the first open and held until the
/// last close, a restore finds every such process (it is refused, naming
/// the fix) and every later open meets the new file.
///
/// One shared lock per directory per process (`shared(in:)`), whatever the
/// number of stores: where `flock` is emulated by POSIX locks, closing a
/// second descriptor of the file would drop the process's lock.
///
/// Taken without waiting: a restore is refused while a command runs, and a
/// command while a restore runs, each with a message that says what to do.
public final class StoreUseLock: Sendable {
    public static let fileName = "store.lock"

    public enum Mode: Sendable { case shared, exclusive }

    private let descriptor: Int32

    /// The shared locks this process holds, by directory, while any user holds one.
    private static let sharedHere = Mutex<[UTF8Key: WeakLock]>([:])

    private struct WeakLock: @unchecked Sendable {  // only read and written inside `sharedHere`
        weak var lock: StoreUseLock?
    }

    /// This process's shared lock of the database in `directory`: the one
    /// it holds already, or a new one.
    public static func shared(in directory: URL) throws -> StoreUseLock {
        let key = UTF8Key(directory.standardizedFileURL.path)
        return try sharedHere.withLock { held in
            if let lock = held[key]?.lock { return lock }
            let lock = try StoreUseLock(directory: directory, mode: .shared)
            held[key] = WeakLock(lock: lock)
            return lock
        }
    }

    /// `shared(in:)` for an open that is `readOnly` or not: a reader that
    /// cannot create or open the lock file (`allowsUnlockedRead`) gets no
    /// lock and the reason, and may read without it; anything else throws.
    public static func shared(in directory: URL, readOnly: Bool) throws -> (lock: StoreUseLock?, unavailable: StoreUseLockError?) {
        do {
            return (try shared(in: directory), nil)
        } catch let error as StoreUseLockError {
            guard readOnly, error.allowsUnlockedRead else { throw error }
            return (nil, error)
        }
    }

    /// Takes the lock of the database in `directory` in `mode` (a new one;
    /// `shared(in:)` for a store's), or throws `StoreUseLockError`. A file it
    /// creates is readable by all (0644, whatever the umask), and given to
    /// the directory's owner when root creates it (`sudo syncctl get`), so
    /// the owner's own commands can take it; `flock` needs only read access.
    public init(directory: URL, mode: Mode) throws {
        let path = directory.appendingPathComponent(Self.fileName).path
        var fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        let created = fd >= 0
        if fd < 0, errno == EEXIST { fd = open(path, O_RDWR | O_CLOEXEC) }
        var code = errno
        if fd < 0, code == EACCES || code == EROFS {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            // No file, and none can be made here: the first reason says why.
            if fd < 0, errno != ENOENT { code = errno }
        }
        guard fd >= 0 else { throw StoreUseLockError.cannotOpen(path: path, reason: String(cString: strerror(code)), code: code) }
        if created { Self.handOver(fd, like: directory.path) }
        guard flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 else {
            let code = errno
            _ = systemClose(fd)
            guard code == EWOULDBLOCK else { throw StoreUseLockError.cannotOpen(path: path, reason: String(cString: strerror(code)), code: code) }
            throw mode == .shared ? StoreUseLockError.beingReplaced(directory: directory.path)
                                  : StoreUseLockError.inUse(directory: directory.path)
        }
        descriptor = fd
    }

    deinit { _ = systemClose(descriptor) }

    /// Mode 0644 whatever the umask, and, for root, the owner of the directory.
    private static func handOver(_ fd: Int32, like directory: String) {
        _ = fchmod(fd, 0o644)
        var owner = stat()
        guard geteuid() == 0, stat(directory, &owner) == 0, owner.st_uid != 0 else { return }
        _ = fchown(fd, owner.st_uid, owner.st_gid)
    }
}

public enum StoreUseLockError: Error, CustomStringConvertible, Equatable {
    /// A restore holds the lock exclusive.
    case beingReplaced(directory: String)
    /// Another process (or another part of this one) has the database open.
    case inUse(directory: String)
    case cannotOpen(path: String, reason: String, code: Int32)

    /// A lock file this account cannot create or open (a directory it may
    /// only read): a reader may go on without the lock, as it can create
    /// no `-wal` or `-shm` there either.
    public var allowsUnlockedRead: Bool {
        guard case .cannotOpen(_, _, let code) = self else { return false }
        return [EACCES, EPERM, EROFS].contains(code)
    }

    public var description: String {
        switch self {
        case .beingReplaced(let directory):
            return "a snapshot restore is replacing the database in \(directory) (\(StoreUseLock.fileName)); try again when it is done"
        case .inUse(let directory):
            return "another process has the database in \(directory) open (\(StoreUseLock.fileName)): end it first (a `syncctl watch`, `sql` or import still running; `fuser -v \(directory)/\(StoreUseLock.fileName)` names it), then restore again"
        case .cannotOpen(let path, let reason, let code):
            let hint = [EACCES, EPERM, EROFS, ENOENT].contains(code)
                ? "check the directory's owner and permissions"
                : "keep the data directory on a local file system (docs/operations.md, \"Files\")"
            return "cannot take the database's use lock \(path): \(reason); \(hint)"
        }
    }
}
