import Foundation

/// What tells one version of a file from the next, read with one `stat`:
/// two saves within one timestamp tick differ in inode (editors, `syncctl`
/// and `AtomicFile` save by rename) or size. Nil for a missing file.
public struct FileVersion: Equatable, Sendable {
    let modified: Date?
    let inode: UInt64?
    let size: UInt64?

    public static func of(_ path: String) -> FileVersion? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        return FileVersion(modified: attributes[.modificationDate] as? Date,
                           inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value,
                           size: (attributes[.size] as? NSNumber)?.uint64Value)
    }
}
