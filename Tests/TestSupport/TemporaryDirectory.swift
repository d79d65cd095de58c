import Foundation

/// A directory under the system temp dir, removed when the test ends.
public final class TemporaryDirectory: Sendable {
    public let url: URL

    public init(_ label: String = "synccore") {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { if ProcessInfo.processInfo.environment["KEEP_TEST_DIRS"] == nil { try? FileManager.default.removeItem(at: url) } }

    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

import GRDB

/// Direct edits of a database file, for tests that fake what another build or a damaged file would leave.
public enum DatabaseAccess {
    public static func setMeta(_ values: [String: String], in path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            for (key, value) in values {
                try db.execute(sql: "INSERT INTO sync_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                               arguments: [key, value])
            }
        }
        try queue.close()
    }
}
