import Foundation

/// Free space on the file system holding a path (joins, snapshots, folds
/// of databases kept aside).
enum FreeSpace {
    /// Bytes free for this user on the file system holding `path`, counting
    /// as free what the used snapshots in `trash` take: a thread is removing
    /// them (`Store.removeDatabaseFilesLater`), and a join or a snapshot
    /// refused for room they hold for a second would keep the peer from
    /// joining for an hour. The disk is read before the folder, so a file
    /// removed in between is counted once at most.
    static func bytes(at path: String, countingTrash trash: URL? = nil) -> UInt64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
        guard let trash else { return free }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: trash.path)) ?? []
        return names.reduce(free) { sum, name in
            var file = stat()
            guard lstat(trash.appendingPathComponent(name).path, &file) == 0, (file.st_mode & S_IFMT) == S_IFREG else { return sum }
            return sum + UInt64(max(0, file.st_blocks)) * 512
        }
    }
}
