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
    public static func restore(_ url: URL, into directory: DataDirectory, deviceID: String?,
                               wallClock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }) throws -> (replica: ReplicaID, keptAside: URL?) {
        _ = try requireVerified(url)
        let database = URL(fileURLWithPath: directory.databasePath)
        let incoming = database.appendingPathExtension("restoring")
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: incoming.path + suffix) }
        try FileManager.default.copyItem(at: url, to: incoming)
        // The staged copy takes its new replica id, its device and its file
        // identity before it is moved into place, in one transaction: at no
        // point of a crash can a file named data.db hold the snapshot's own
        // replica id, so no dot is ever issued twice (replication-model §7).
        // A rename keeps the file identity, so the next open keeps this id.
        let replica = try prepareRestored(at: incoming.path, from: url.lastPathComponent, deviceID: deviceID, wall: wallClock())
        var keptAside: URL?
        if FileManager.default.fileExists(atPath: database.path) {
            let current = try DatabaseQueue(path: database.path)
            try current.writeWithoutTransaction { db in try db.truncateWAL() }
            try current.close()
            let stamp = defaultName().replacingOccurrences(of: "." + fileExtension, with: "")
            let aside = directory.url.appendingPathComponent(keptAsidePrefix + stamp)
            // A second name for the current file, not a move: data.db exists
            // at every instant, so a crash never leaves the directory empty
            // (which would make syncd seed a fresh database).
            guard link(database.path, aside.path) == 0 else { throw SnapshotError.exists(aside.path) }
            keptAside = aside
        }
        guard rename(incoming.path, database.path) == 0 else { throw SnapshotError.exists(database.path) }
        // The old file's WAL was checkpointed and cut to zero bytes above.
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database.path + suffix) }
        return (replica, keptAside)
    }

    /// Gives the staged copy at `path` a new replica id, records the device and
    /// its file identity, and checkpoints it so that it is one self-contained file.
    static func prepareRestored(at path: String, from name: String, deviceID: String?, wall: UInt64) throws -> ReplicaID {
        let queue = try DatabaseQueue(path: path)
        let replica = try queue.write { db in
            let replica = try Store.startNewReplica(reason: "restored from snapshot \(name)", device: deviceID, at: wall, in: db)
            if let deviceID { try db.setMeta(MetaKey.device, deviceID) }
            if let identity = FileIdentity.of(path: path) { try db.setMeta(MetaKey.fileIdentity, identity) }
            return replica
        }
        try queue.writeWithoutTransaction { db in
            if try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal" { try db.truncateWAL() }
        }
        try queue.close()
        return replica
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
