import Foundation
#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
private let systemClose = Glibc.close
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
private let systemClose = Darwin.close
#endif

/// One `syncd`'s claim on its data directory: an exclusive `flock` on
/// `syncd.lock` in it, held for as long as the object lives (the kernel
/// drops it when the process ends, however it ends), with the holder's pid
/// written in the file for the message a second daemon prints.
///
/// Two daemons on one directory would each take the other's control
/// socket, and each would treat the other's join files as a crash's
/// leftovers at its start (`SyncNode`: removed, or kept aside mid-copy).
/// `syncctl` works beside the daemon, through SQLite's own locks, and
/// takes this lock only to replace the database (`snapshot restore`), so
/// no daemon starts on the directory meanwhile.
public final class DaemonLock: Sendable {
    public static let fileName = "syncd.lock"

    private let descriptor: Int32

    /// Takes the lock on `directory` (which must exist), or throws
    /// `DaemonLockError.held` naming the daemon that holds it.
    public init(directory: URL) throws {
        let path = directory.appendingPathComponent(Self.fileName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw DaemonLockError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            _ = systemClose(fd)
            if code == EWOULDBLOCK {
                throw DaemonLockError.held(directory: directory.path, pid: Self.holder(path))
            }
            throw DaemonLockError.cannotOpen(path: path, reason: String(cString: strerror(code)))
        }
        // The pid is only for that message: a failure to write it is no reason not to run.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, pid.count, 0) } }
        descriptor = fd
    }

    deinit { _ = systemClose(descriptor) }

    /// The pid written by the holder, when the file holds one (at most 32 bytes read).
    static func holder(_ path: String) -> Int32? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let bytes = (try? handle.read(upToCount: 32)) ?? Data()
        return Int32(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

public enum DaemonLockError: Error, CustomStringConvertible, Equatable {
    case held(directory: String, pid: Int32?)
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case .held(let directory, let pid):
            let who = pid.map { "syncd (pid \($0))" } ?? "syncd"
            return "\(who) is running on the data directory \(directory) and holds it (\(DaemonLock.fileName)): stop it first (SIGTERM, or Ctrl-C where it runs), or give another --data-dir"
        case .cannotOpen(let path, let reason):
            return "cannot take the data directory's lock \(path): \(reason); check the directory's owner and permissions"
        }
    }
}
