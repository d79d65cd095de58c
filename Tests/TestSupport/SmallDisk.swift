import Foundation

/// A small tmpfs the test mounts itself (root only: CI runs as root; elsewhere
/// the suite is skipped with the reason).
public final class SmallDisk: @unchecked Sendable {
    public let url: URL

    public init?(megabytes: Int) {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("syncd-small-disk-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", url.path]) == 0 else {
            try? FileManager.default.removeItem(at: url)
            return nil
        }
    }

    /// Makes room: the fault goes away.
    public func grow(to megabytes: Int) -> Bool { Self.run("/bin/mount", ["-o", "remount,size=\(megabytes)m", url.path]) == 0 }

    deinit {
        _ = Self.run("/bin/umount", ["-l", url.path])
        try? FileManager.default.removeItem(at: url)
    }

    static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    public static let available: Bool = SmallDisk(megabytes: 1) != nil
}
