import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A folder of its own under a parent (the temporary directory, by default)
/// for work on a copy of a snapshot: `label-UUID`, holding `in-use.lock`
/// under an exclusive `flock` for as long as the work runs, and removed
/// whole afterwards.
///
/// A process killed meanwhile (a crash, `kill -9`, the machine losing
/// power) leaves its folder, with a copy as large as the snapshot in it;
/// the next scratch folder of the same label sweeps every such folder whose
/// lock nobody holds (the kernel drops a dead process's locks) and that is
/// over a minute old, so repeated
/// crashes do not fill the disk. A folder without the lock file (made by a
/// build before this one, or killed between the two steps) is swept once it
/// is a day old.
enum ScratchFolder {
    /// Folders without a lock file older than this are taken as left behind.
    static let unlockedAge: TimeInterval = 24 * 3600
    /// A folder younger than this is never swept: its maker may be between
    /// making it and locking it.
    static let freshAge: TimeInterval = 60

    /// Runs `body` with a new scratch folder under `parent`, sweeping the
    /// ones left behind first.
    static func with<T>(in parent: URL, label: String, _ body: (URL) throws -> T) throws -> T {
        sweep(parent, label: label)
        let url = parent.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let lock = open(url.appendingPathComponent("in-use.lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
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
            let folder = parent.appendingPathComponent(name)
            let lockPath = folder.appendingPathComponent("in-use.lock").path
            let fd = open(lockPath, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
            if fd >= 0 {
                defer { close(fd) }
                // Held by a live process: in use. Taken: left by a dead one,
                // unless just made (its maker has not locked it yet).
                guard flock(fd, LOCK_EX | LOCK_NB) == 0, age(of: folder) > freshAge else { continue }
                try? FileManager.default.removeItem(at: folder)
            } else if errno == ENOENT, age(of: folder) > unlockedAge {
                try? FileManager.default.removeItem(at: folder)
            }
        }
    }

    /// Seconds since `folder` last changed; 0 when unknown or not a folder.
    private static func age(of folder: URL) -> TimeInterval {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: folder.path),
              attributes[.type] as? FileAttributeType == .typeDirectory,
              let modified = attributes[.modificationDate] as? Date else { return 0 }
        return Date().timeIntervalSince(modified)
    }
}
