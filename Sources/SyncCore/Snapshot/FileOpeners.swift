import Foundation

/// Which other processes have a database file open: what a restore must
/// know before it renames another file over it. SQLite finds a database's
/// WAL by name, so a program that keeps the old file open across the rename
/// (the `sqlite3` shell, even one that has not run a statement yet) would
/// write frames built from the old file into a `data.db-wal` the restored
/// file then reads as its own. `syncd` and `syncctl` are kept out by their
/// locks (`DaemonLock`, `StoreUseLock`); these find the others, and keep
/// them off the files while they swap names (`Guard`).
enum FileOpeners {
    /// The pids of the processes other than this one with a descriptor of
    /// the file at `path` (Linux: `/proc/PID/fd`, compared by device and
    /// inode). Processes of other accounts are seen only by root; none on a
    /// system without `/proc`.
    static func pids(of path: String) -> [Int32] {
        var target = stat()
        guard stat(path, &target) == 0 else { return [] }
        let own = getpid()
        guard let processes = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [Int32] = []
        for entry in processes {
            guard let pid = Int32(entry), pid != own,
                  let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(entry)/fd") else { continue }
            for descriptor in descriptors {
                var info = stat()
                if stat("/proc/\(entry)/fd/\(descriptor)", &info) == 0, info.st_dev == target.st_dev, info.st_ino == target.st_ino {
                    found.append(pid)
                    break
                }
            }
        }
        return found.sorted()
    }

    /// SQLite's lock bytes of a database file: the pending byte (2^30), the
    /// reserved byte and the 510 shared bytes. A connection in WAL mode
    /// holds a shared lock there from its first statement until it closes.
    static let lockBytes = (start: off_t(0x4000_0000), count: off_t(512))

    /// A write lock on a database file's lock bytes, held by this process
    /// while it lives: no SQLite connection of another process can start a
    /// read or a write on the file meanwhile (it gets "database is locked"),
    /// so none can put frames in a WAL while a restore swaps the files.
    /// Taken only on a file this process has no SQLite connection to, and
    /// released by closing its descriptor (closing any other descriptor of
    /// the file would drop it too).
    final class Guard {
        private let descriptor: Int32

        /// Throws `SnapshotError.databaseOpenElsewhere` when another process
        /// holds a lock there, `.cannotLock` when the file cannot be locked.
        init(_ path: String) throws {
            let fd = open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw SnapshotError.cannotLock(path, reason: String(cString: strerror(errno))) }
            var lock = flock()
            lock.l_type = Int16(F_WRLCK)
            lock.l_whence = Int16(SEEK_SET)
            lock.l_start = FileOpeners.lockBytes.start
            lock.l_len = FileOpeners.lockBytes.count
            guard fcntl(fd, F_SETLK, &lock) == 0 else {
                let code = errno
                close(fd)
                if code == EAGAIN || code == EACCES { throw SnapshotError.databaseOpenElsewhere(path, pids: FileOpeners.pids(of: path)) }
                throw SnapshotError.cannotLock(path, reason: String(cString: strerror(code)))
            }
            descriptor = fd
        }

        deinit { close(descriptor) }
    }
}
