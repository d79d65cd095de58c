import Foundation
import Synchronization
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
    /// What a daemon writes as its holder name once its start has taken up
    /// what a crash left (`ready(_:)`); before that it is `starting`.
    public static let daemonRunning = "syncd"
    public static let daemonStarting = "syncd, starting"
    /// How often the name may turn out to give another file than the one
    /// locked before the lock is given up (`cannotOpen`).
    static let maxRetries = 100

    private let descriptor: Int32
    private let directoryKey: String
    /// The directories this process holds the lock of: a second claim from
    /// the same process (through another descriptor) is refused by `flock`,
    /// but on a file system that emulates `flock` with POSIX locks it would
    /// be granted, and its release would drop the first.
    /// The holder name each of them last wrote.
    private static let heldHere = Mutex<[UTF8Key: String]>([:])

    /// Takes the lock on `directory` (which must exist) for `holder` (what
    /// a refused process's message names: "syncd", "syncctl snapshot
    /// restore"), or throws `DaemonLockError.held` naming the one that holds it.
    public init(directory: URL, holder: String = "syncd") throws {
        let path = directory.appendingPathComponent(Self.fileName).path
        let key = directory.standardizedFileURL.path
        // Not read from the file: a descriptor of it opened and closed here
        // would drop this process's lock where `flock` is emulated by POSIX locks.
        if let name = Self.heldHere.withLock({ $0[UTF8Key(key)] }) {
            throw DaemonLockError.held(directory: directory.path, by: Holder(pid: getpid(), name: name))
        }
        var fd: Int32 = -1
        var attempts = 0
        while true {
            attempts += 1
            guard attempts <= Self.maxRetries else {
                throw DaemonLockError.cannotOpen(path: path, reason: "the file changed under the lock \(Self.maxRetries) times")
            }
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw DaemonLockError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                let code = errno
                _ = systemClose(fd)
                if code == EWOULDBLOCK {
                    throw DaemonLockError.held(directory: directory.path, by: Self.holder(path))
                }
                throw DaemonLockError.cannotOpen(path: path, reason: String(cString: strerror(code)))
            }
            // Locked the file the name still gives: one unlinked meanwhile (a
            // refused first start removes its new directory's lock file)
            // would be a lock nobody else can see.
            var locked = stat(), current = stat()
            if fstat(fd, &locked) == 0, stat(path, &current) == 0, locked.st_ino == current.st_ino, locked.st_dev == current.st_dev { break }
            _ = systemClose(fd)
        }
        descriptor = fd
        directoryKey = key
        name(holder)
    }

    deinit {
        Self.heldHere.withLock { $0[UTF8Key(directoryKey)] = nil }
        _ = systemClose(descriptor)
    }

    /// Whether this process holds the lock of `directory`.
    public static func isHeldHere(_ directory: URL) -> Bool {
        heldHere.withLock { $0[UTF8Key(directory.standardizedFileURL.path)] != nil }
    }

    /// Writes `holder` as the holder's name (with this pid): a daemon names
    /// itself `daemonRunning` once its start has taken up what a crash left.
    /// The name is for other processes' decisions and messages: a failure to
    /// write it is no reason not to run. Written over the old text, then cut
    /// to length, so a reader never finds the file empty.
    public func name(_ holder: String) {
        Self.heldHere.withLock { $0[UTF8Key(directoryKey)] = holder }
        let text = Array("\(getpid()) \(holder)\n".utf8)
        if text.withUnsafeBytes({ pwrite(descriptor, $0.baseAddress, text.count, 0) }) == text.count { _ = ftruncate(descriptor, off_t(text.count)) }
    }

    /// The pid and name the holder wrote, when the file holds them (at most 256 bytes read).
    static func holder(_ path: String) -> Holder? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let bytes = (try? handle.read(upToCount: 256)) ?? Data()
        guard let line = String(decoding: bytes, as: UTF8.self).split(separator: "\n").first,
              let space = line.firstIndex(of: " "), let pid = Int32(line[..<space]) else { return nil }
        return Holder(pid: pid, name: String(line[line.index(after: space)...]))
    }

    public struct Holder: Equatable, Sendable {
        public let pid: Int32
        public let name: String

        /// Whether a process with the pid runs (on this machine's pid
        /// namespace). The name a new holder has not yet written over is its
        /// dead predecessor's: between its `flock` and its `name(_:)`.
        public var isAlive: Bool { kill(pid, 0) == 0 || errno == EPERM }
    }
}

public enum DaemonLockError: Error, CustomStringConvertible, Equatable {
    case held(directory: String, by: DaemonLock.Holder?)
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case .held(let directory, let holder):
            let who = holder.map { "\($0.name) (pid \($0.pid))" } ?? "syncd or a restore"
            let what = holder == nil || holder!.name.hasPrefix(DaemonLock.daemonRunning)
                ? "stop it first (SIGTERM, or Ctrl-C where it runs), or give another --data-dir"
                : "wait until it is done, or give another --data-dir"
            return "\(who) is running on the data directory \(directory) and holds it (\(DaemonLock.fileName)): \(what)"
        case .cannotOpen(let path, let reason):
            return "cannot take the data directory's lock \(path): \(reason); check the directory's owner and permissions"
        }
    }
}
