import Foundation
import GRDB
import Logging

extension Snapshots {
    public static let keptAsidePrefix = "data.db.before-restore-"

    /// Replaces the database in `directory` with a verified snapshot. The
    /// daemon must be stopped (the caller checks). The current database is
    /// checkpointed and kept aside as `data.db.before-restore-TIME` until the
    /// daemon's next successful sync; the restored database takes a new
    /// replica id, so no dot issued after the snapshot is ever issued again.
    public static func restore(_ url: URL, into directory: DataDirectory, deviceID: String?) throws -> (replica: ReplicaID, keptAside: URL?) {
        _ = try requireVerified(url)
        let database = URL(fileURLWithPath: directory.databasePath)
        let incoming = database.appendingPathExtension("restoring")
        try? FileManager.default.removeItem(at: incoming)
        try FileManager.default.copyItem(at: url, to: incoming)
        var keptAside: URL?
        if FileManager.default.fileExists(atPath: database.path) {
            let current = try DatabaseQueue(path: database.path)
            try current.writeWithoutTransaction { db in try db.truncateWAL() }
            try current.close()
            let stamp = defaultName().replacingOccurrences(of: "." + fileExtension, with: "")
            let aside = directory.url.appendingPathComponent(keptAsidePrefix + stamp)
            guard rename(database.path, aside.path) == 0 else { throw SnapshotError.exists(aside.path) }
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database.path + suffix) }
            keptAside = aside
        }
        guard rename(incoming.path, database.path) == 0 else { throw SnapshotError.exists(database.path) }
        let store = try Store(path: database.path, deviceID: deviceID)
        let replica = try store.startNewReplica(reason: "restored from snapshot \(url.lastPathComponent)")
        return (replica, keptAside)
    }

    /// Removes databases kept aside by a restore, once a sync has succeeded.
    public static func removeKeptAside(nextTo databasePath: String, logger: Logger) {
        let directory = URL(fileURLWithPath: databasePath).deletingLastPathComponent()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for name in names where name.hasPrefix(keptAsidePrefix) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            logger.info("removed the database kept aside by a restore: a sync has succeeded since", metadata: ["file": "\(name)"])
        }
    }

    /// The snapshots in `directory` with their manifests, newest first.
    public static func list(in directory: URL) -> [(url: URL, manifest: SnapshotManifest?)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        return names.filter { $0.hasSuffix("." + fileExtension) }.map { name in
            let url = directory.appendingPathComponent(name)
            return (url, try? SnapshotManifest.load(for: url))
        }.sorted { ($0.manifest?.createdAt ?? .distantPast, $0.url.lastPathComponent) > ($1.manifest?.createdAt ?? .distantPast, $1.url.lastPathComponent) }
    }
}
