import Foundation

/// Which other processes have a database file open: named in the message
/// when a restore cannot take the file (`ExclusiveDatabase`), so the
/// operator knows what to close.
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
