import Foundation

/// Which other processes have a database file open, or hold SQLite's
/// locks on it: named in the message when a restore cannot take the file
/// (`ExclusiveDatabase`), so the operator knows what to close, and asked
/// before a file SQLite cannot open is renamed aside (`Snapshots.restore`).
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
}

extension FileOpeners {
    /// Whether another process holds one of SQLite's locks on the database
    /// at `path`: its lock bytes (2^30 and the 511 after), or the WAL locks
    /// and the "a connection is open" byte of its `-shm` (offsets 120–128).
    /// Seen whatever account runs it (`F_GETLK` only asks; it takes
    /// nothing). For a file no SQLite connection of this process has open:
    /// the descriptors opened to ask are closed again.
    static func sqliteLockHeld(on path: String) -> Bool {
        lockHeld(on: path, start: 0x4000_0000, count: 512) || lockHeld(on: path + "-shm", start: 120, count: 9)
    }

    private static func lockHeld(on path: String, start: off_t, count: off_t) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = start
        lock.l_len = count
        guard fcntl(fd, F_GETLK, &lock) == 0 else { return false }
        return lock.l_type != Int16(F_UNLCK)
    }
}
