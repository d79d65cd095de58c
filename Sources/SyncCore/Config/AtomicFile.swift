import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small files that syncd and syncctl both write (config, JSON lists):
/// written whole under a unique temporary name created with its final mode
/// (never briefly readable by others), synced, then renamed over the old
/// one, so a reader or a crash sees the old file or the new one; and
/// changed under an exclusive `flock` on a side file, so two writers do not
/// lose each other's change.
public enum AtomicFile {
    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    /// Replaces the file at `path` with `data`.
    public static func write(_ data: Data, to path: String, mode: mode_t) throws {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(path: path, reason: String(cString: strerror(errno))) }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
        close(fd)
        if failure == nil, rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw Failure(path: path, reason: failure)
        }
        // The new name itself must survive a power cut before the change is reported done.
        try syncDirectory(of: path)
    }

    /// `fsync` of the directory holding `path`: until it returns, a name
    /// given there (a rename, a link) may be lost by a power cut even when
    /// the file's own contents are on the disk.
    public static func syncDirectory(of path: String) throws {
        let name = (path as NSString).deletingLastPathComponent
        let directory = open(name.isEmpty ? "." : name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw Failure(path: path, reason: "cannot open its directory to sync it: \(String(cString: strerror(errno)))") }
        defer { close(directory) }
        guard fsync(directory) == 0 else { throw Failure(path: path, reason: "cannot sync its directory: \(String(cString: strerror(errno)))") }
    }

    /// Runs `body` holding an exclusive lock on `path + ".lock"`.
    public static func locked<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let lock = open(path + ".lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw Failure(path: path + ".lock", reason: String(cString: strerror(errno))) }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else { throw Failure(path: path + ".lock", reason: String(cString: strerror(errno))) }
        }
        defer { flock(lock, LOCK_UN) }
        return try body()
    }
}
