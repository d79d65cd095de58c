import Foundation

/// Which other processes have a database file open: what a restore must
/// know before it renames another file over it. SQLite finds a database's
/// WAL by name, so a program that keeps the old file open across the rename
/// (the `sqlite3` shell, even one that has not run a statement yet) would
/// write frames built from the old file into a `data.db-wal` the restored
/// file then reads as its own. `syncd` and `syncctl` are kept out by their
/// locks (`DaemonLock`, `StoreUseLock`); these find the others.
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

    /// Whether another process holds a SQLite lock on the database file at
    /// `path` (a connection in WAL mode holds a shared one in the bytes from
    /// SQLite's pending byte, 2^30, on from its first statement until it
    /// closes), asked with `F_GETLK`, which takes none; a file that cannot
    /// be asked counts as locked. Called only while this process has no
    /// connection to the file: closing the descriptor opened here drops
    /// every POSIX lock the process holds on it.
    static func isLocked(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno != ENOENT }
        defer { close(fd) }
        var probe = flock()
        probe.l_type = Int16(F_WRLCK)
        probe.l_whence = Int16(SEEK_SET)
        probe.l_start = 0x4000_0000  // PENDING_BYTE; then RESERVED_BYTE and the 510 shared bytes
        probe.l_len = 512
        guard fcntl(fd, F_GETLK, &probe) == 0 else { return true }
        return probe.l_type != Int16(F_UNLCK)
    }
}
