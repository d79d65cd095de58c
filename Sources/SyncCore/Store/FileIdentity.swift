#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which file on which file system a database is: `st_dev:st_ino`.
///
/// Recorded in the database when it is opened; a copy of the file (`cp`,
/// a restored backup, a synced folder) is another file, so the next open by
/// `syncd` or `syncctl` sees a different identity and gives the copy a new
/// replica id before it writes (replication-model §3.3). A restore copies
/// the snapshot into the live file, whose identity the staged copy records
/// first, so the restored file keeps the id it was given; renaming a file
/// keeps its identity too.
enum FileIdentity {
    /// The identity of the file at `path`, or nil if it cannot be read.
    static func of(path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return "\(UInt64(info.st_dev)):\(UInt64(info.st_ino))"
    }

    /// The identity of the regular file at `path`, not following a link;
    /// nil for anything else.
    static func ofRegularFile(path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return "\(UInt64(info.st_dev)):\(UInt64(info.st_ino))"
    }
}
