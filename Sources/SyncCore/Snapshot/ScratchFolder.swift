import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A folder of its own under a parent (the temporary directory, by default)
/// for work on a copy of a snapshot: `label-UUID`, readable by its owner
/// only (the copy holds the dataset), holding `in-use.lock` under an
/// exclusive `flock` for as long as the work runs, and removed whole
/// afterwards.
///
/// A process killed meanwhile (a crash, `kill -9`, the machine losing
/// power) leaves its folder, with a copy as large as the snapshot in it;
/// the next scratch folder of the same label sweeps every such folder of
/// this user whose lock nobody holds (the kernel drops a dead process's
/// locks) and that is over a minute old, so repeated crashes do not fill
/// the disk. A folder without the lock file (made by a build before this
/// one, or killed between the two steps) is swept once it is a day old.
///
/// The temporary directory is shared with other users, who can make
/// folders of any name there: only real folders (not links) owned by this
/// user are touched, and their files are removed through a descriptor of
/// the folder itself, never by a path another user could redirect.
enum ScratchFolder {
    /// Folders without a lock file older than this are taken as left behind.
    static let unlockedAge: TimeInterval = 24 * 3600
    /// A folder younger than this is never swept: its maker may be between
    /// making it and locking it.
    static let freshAge: TimeInterval = 60
    static let lockName = "in-use.lock"

    /// Runs `body` with a new scratch folder under `parent`, sweeping the
    /// ones left behind first.
    static func with<T>(in parent: URL, label: String, _ body: (URL) throws -> T) throws -> T {
        sweep(parent, label: label)
        let url = parent.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let lock = open(url.appendingPathComponent(lockName).path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        defer {
            try? FileManager.default.removeItem(at: url)
            if lock >= 0 { close(lock) }
        }
        guard lock >= 0, flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path,
                                                           NSLocalizedDescriptionKey: "cannot lock the scratch folder \(url.path): \(String(cString: strerror(errno)))"])
        }
        return try body(url)
    }

    /// Removes the folders `label-…` under `parent` that no live process
    /// holds. Never fails: a folder it cannot judge or remove is left.
    static func sweep(_ parent: URL, label: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent.path) else { return }
        for name in names where name.hasPrefix(label + "-") {
            sweepOne(parent.appendingPathComponent(name).path)
        }
    }

    private static func sweepOne(_ path: String) {
        // A real folder of this user's, not just made; examined through a
        // descriptor of it from here on.
        var seen = stat()
        guard lstat(path, &seen) == 0, (seen.st_mode & S_IFMT) == S_IFDIR, seen.st_uid == geteuid() else { return }
        #if canImport(Darwin)
        let modified = seen.st_mtimespec.tv_sec
        #else
        let modified = seen.st_mtim.tv_sec
        #endif
        let age = Date().timeIntervalSince1970 - TimeInterval(modified)
        guard age > freshAge else { return }
        let folder = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folder >= 0 else { return }
        defer { close(folder) }
        var opened = stat()
        guard fstat(folder, &opened) == 0, opened.st_dev == seen.st_dev, opened.st_ino == seen.st_ino else { return }
        let lock = openat(folder, lockName, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        if lock >= 0 {
            defer { close(lock) }
            // Held by a live process: in use. Taken: left by a dead one.
            guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { return }
        } else {
            guard errno == ENOENT, age > unlockedAge else { return }
        }
        // Its files (a scratch folder holds no folders: one that does is not ours), then it.
        guard let entries = entries(of: folder) else { return }
        for entry in entries {
            var kind = stat()
            guard fstatat(folder, entry, &kind, AT_SYMLINK_NOFOLLOW) == 0, (kind.st_mode & S_IFMT) != S_IFDIR else { return }
        }
        for entry in entries { _ = unlinkat(folder, entry, 0) }
        _ = rmdir(path)
    }

    /// The names in the folder open as `folder`, without `.` and `..`.
    private static func entries(of folder: Int32) -> [String]? {
        let copy = dup(folder)
        guard copy >= 0, let directory = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            return nil
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) { String(cString: $0) }
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }
}
