import Foundation
import GRDB
import Logging

extension Snapshots {
    public static let keptAsidePrefix = "data.db.before-restore-"
    private static let foldLock = NSLock()

    /// Replaces the database in `directory` with a verified snapshot. The
    /// daemon must be stopped (the caller checks); no other process may have
    /// the database open (`StoreUseLock`, refused otherwise). The current database is
    /// checkpointed and kept aside as `data.db.before-restore-TIME` until the
    /// daemon's next successful sync; the restored database takes a new
    /// replica id, so no dot issued after the snapshot is ever issued again.
    public static func restore(_ url: URL, into directory: DataDirectory, deviceID: String?,
                               wallClock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) },
                               random: @Sendable () -> UInt64 = Store.Options().random) throws -> (replica: ReplicaID, keptAside: URL?) {
        // Held until the restored file has the name: no process has the old
        // data.db open, so none writes a WAL the restored file would inherit.
        // (No directory: the dataset check below says so.)
        let useLock = FileManager.default.fileExists(atPath: directory.path) ? try StoreUseLock(directory: directory.url, mode: .exclusive) : nil
        defer { withExtendedLifetime(useLock) {} }
        _ = try requireVerified(url)
        try requireDataset(of: url.path, named: try directory.seedSchema().name)
        let database = URL(fileURLWithPath: directory.databasePath)
        let incoming = database.appendingPathExtension("restoring")
        Store.removeDatabaseFiles(incoming.path)
        try FileManager.default.copyItem(at: url, to: incoming)
        CrashPoint.hit("restore.copied")
        // The staged copy takes its new replica id, its device and its file
        // identity before it is moved into place, in one transaction: at no
        // point of a crash can a file named data.db hold the snapshot's own
        // replica id, so no dot is ever issued twice (replication-model §7).
        // A rename keeps the file identity, so the next open keeps this id.
        let replica = try prepareRestored(at: incoming.path, from: url.lastPathComponent, deviceID: deviceID, wall: wallClock(), random: random)
        CrashPoint.hit("restore.staged")
        var keptAside: URL?
        // Both files locked against every SQLite connection from the check
        // until the end (`FileOpeners.Guard`): no other program reads or
        // writes either of them while they swap names.
        var guards: [FileOpeners.Guard] = []
        defer { withExtendedLifetime(guards) {} }
        do {
            if FileManager.default.fileExists(atPath: database.path) {
                try foldWAL(of: database.path)
                guards = [try FileOpeners.Guard(database.path), try FileOpeners.Guard(incoming.path)]
                let aside = keptAsideName(in: directory.url, at: wallClock())
                // A second name for the current file, not a move: data.db exists
                // at every instant, so a crash never leaves the directory empty
                // (which would make syncd seed a fresh database).
                guard link(database.path, aside.path) == 0 else {
                    throw SnapshotError.cannotKeepAside(aside.path, reason: String(cString: strerror(errno)))
                }
                keptAside = aside
                // On the disk before the rename below: a power cut must not keep
                // the new data.db and lose the only name of the old one.
                try AtomicFile.syncDirectory(of: aside.path)
                CrashPoint.hit("restore.linked")
            }
            // The old file's WAL, folded and empty, is normally gone with the
            // fold's connection; if not, it stays: the restored file is in
            // rollback mode, and its first store's open finds no frames in it.
            guard rename(incoming.path, database.path) == 0 else {
                throw SnapshotError.cannotKeepAside(database.path, reason: "rename: " + String(cString: strerror(errno)))
            }
        } catch {
            // Nothing of the current database changed: the staged copy goes,
            // and the second name, which is the live file's.
            Store.removeDatabaseFiles(incoming.path)
            if let keptAside { unlink(keptAside.path) }
            throw error
        }
        CrashPoint.hit("restore.swapped")
        // A program that opened the old file after the check (it could
        // neither read nor write it: the guard) and still has it open would
        // go on with it once the guard goes, and its frames would land in
        // the restored file's WAL by name: the old file takes its name back
        // and the restore is refused. (The WAL cannot tell: frames written
        // since the check are impossible on either file.)
        if let aside = keptAside {
            let late = FileOpeners.pids(of: aside.path)
            if !late.isEmpty {
                guard rename(aside.path, database.path) == 0 else {
                    throw SnapshotError.cannotKeepAside(database.path, reason: "putting the database back after another program opened it: " + String(cString: strerror(errno)))
                }
                try? AtomicFile.syncDirectory(of: database.path)
                throw SnapshotError.databaseOpenedDuringRestore(database.path, pids: late)
            }
        }
        // The new name to the disk; data.db is replaced already, so a
        // failure here is no failure of the restore (a retry would keep the
        // restored file aside and take another id).
        try? AtomicFile.syncDirectory(of: database.path)
        CrashPoint.hit("restore.renamed")
        return (replica, keptAside)
    }

    /// Refuses a snapshot whose database records another dataset (older
    /// snapshots record none: they hold the shipped one).
    static func requireDataset(of path: String, named expected: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        let held = try queue.read { db in
            try db.tableExists("sync_meta") ? try String.fetchOne(db, sql: "SELECT value FROM sync_meta WHERE key = ?", arguments: [MetaKey.dataset]) : nil
        }
        let dataset = held ?? SchemaLineage.shipped
        if !dataset.utf8.elementsEqual(expected.utf8) { throw SnapshotError.otherDataset(path, held: dataset, here: expected) }
    }

    /// A free name for the database a restore keeps aside, stamped with the
    /// wall clock: a clock set back (or two restores within a millisecond)
    /// would otherwise name a file already kept aside, and the restore fail.
    static func keptAsideName(in directory: URL, at wall: UInt64) -> URL {
        let stamp = defaultName(at: Date(timeIntervalSince1970: Double(wall) / 1_000)).replacingOccurrences(of: "." + fileExtension, with: "")
        var aside = directory.appendingPathComponent(keptAsidePrefix + stamp)
        var suffix = 2
        while FileManager.default.fileExists(atPath: aside.path) {
            aside = directory.appendingPathComponent(keptAsidePrefix + stamp + "-\(suffix)")
            suffix += 1
        }
        return aside
    }

    /// Folds the WAL of the database at `path` into the file and checks that
    /// nothing is left in it: a reader elsewhere can block the checkpoint,
    /// and the file alone would then lack the latest commits.
    /// Then refuses while another program has the file open, even idle
    /// (`FileOpeners`): what it wrote after the rename would go to the
    /// restored file's WAL by name, or to the renamed file and be lost.
    static func foldWAL(of path: String) throws {
        let queue = try DatabaseQueue(path: path)
        let row = try queue.writeWithoutTransaction { db in try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try queue.close()
        let busy = (row?[0] as Int?) ?? 0
        let walBytes = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        guard busy == 0, walBytes == 0 else { throw SnapshotError.databaseBusy(path) }
        let openers = FileOpeners.pids(of: path)
        if !openers.isEmpty { throw SnapshotError.databaseOpenElsewhere(path, pids: openers) }
    }

    /// Gives the staged copy at `path` a new replica id, records the device and
    /// its file identity, and makes it one self-contained file in rollback mode.
    static func prepareRestored(at path: String, from name: String, deviceID: String?, wall: UInt64, random: @Sendable () -> UInt64) throws -> ReplicaID {
        let queue = try DatabaseQueue(path: path)
        let replica = try queue.write { db in
            let replica = try Store.startNewReplica(reason: "restored from snapshot \(name)", device: deviceID, at: wall, random: random, in: db)
            if let deviceID { try db.setMeta(MetaKey.device, deviceID) }
            if let identity = FileIdentity.of(path: path) { try db.setMeta(MetaKey.fileIdentity, identity) }
            return replica
        }
        // One file in rollback mode until its first store opens it (which
        // turns WAL on): a program that opened it while the restore was
        // put back (`restore`) finds it moved at its first write and is
        // refused ("readonly database") instead of writing a WAL by name.
        try queue.writeWithoutTransaction { db in
            if try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal" { try db.truncateWAL() }
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
        }
        try queue.close()
        return replica
    }

    /// The databases restores and joins kept aside in a data directory
    /// (their `-wal`, `-shm`, `-journal` and `.counter` companions left out), by name.
    public static func keptAside(in directory: URL) -> [String] {
        keptAside(among: (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
    }

    /// `keptAside(in:)` among the names of a directory listed already.
    static func keptAside(among names: [String]) -> [String] {
        names.sorted().filter { name in
            name.hasPrefix(keptAsidePrefix) && !(Store.databaseCompanions + [".counter"]).contains { name.hasSuffix($0) }
        }
    }

    /// Merges each database kept aside by a restore into `store`, then
    /// removes it (once a sync has succeeded). Writes made after the snapshot
    /// that never reached a peer are in the kept-aside file only: merging
    /// (a join, idempotent) brings them back instead of deleting them
    /// (replication-model §7). A file that cannot be merged is kept and logged.
    public static func mergeAndRemoveKeptAside(into store: Store, logger: Logger) {
        // Sessions with different peers can catch up at once: one fold at a
        // time in the process, so none opens a file another is removing.
        foldLock.lock()
        defer { foldLock.unlock() }
        let directory = URL(fileURLWithPath: store.path).deletingLastPathComponent()
        for name in keptAside(in: directory) {
            let path = directory.appendingPathComponent(name).path
            // Merged and removed by another process (syncctl) since the listing.
            guard FileManager.default.fileExists(atPath: path) else { continue }
            // A restore that died between the hard link and the rename left a
            // second name for the live file itself: nothing to merge, and
            // opening it under that name would bypass the live WAL.
            if let aside = FileIdentity.of(path: path), aside == FileIdentity.of(path: store.path) {
                try? FileManager.default.removeItem(atPath: path)
                logger.info("removed a second name of the live database left by an interrupted restore", metadata: ["file": "\(name)"])
                continue
            }
            do {
                let changed = try mergeKeptAside(at: path, into: store)
                // The merge on the disk before the copy goes: its commits
                // (synchronous = NORMAL) are in the WAL, which a power cut
                // could take while keeping the removal below.
                do { try store.syncCommittedToDisk() } catch {
                    logger.warning("merged the database kept aside by a restore, but could not make the merge durable; the copy is kept and merged again (no change) after the next sync", metadata: [
                        "file": "\(name)", "error": "\(error)"])
                    continue
                }
                for suffix in [""] + Store.databaseCompanions + [".counter"] { try? FileManager.default.removeItem(atPath: path + suffix) }
                logger.info("merged and removed the database kept aside by a restore: a sync has succeeded since", metadata: [
                    "file": "\(name)", "slots_changed": "\(changed)"])
                try? AtomicFile.syncDirectory(of: path)
            } catch {
                logger.warning("could not merge the database kept aside by a restore; it is kept", metadata: ["file": "\(name)", "error": "\(error)"])
            }
        }
    }

    /// Applies every slot of the database at `path` to `store`, as received
    /// from the replica recorded in it; returns the slots that changed.
    static func mergeKeptAside(at path: String, into store: Store) throws -> Int {
        let replica = try DatabaseQueue(path: path).read { try $0.replicaID() }
        let source = try Store(path: path, schema: store.seed)
        var cursor: UInt64 = 0
        var changed = 0
        while true {
            let batch = try source.changes(since: cursor, maxCount: 5_000, maxBytes: 16 << 20)
            changed += try store.apply(batch.changes, from: replica, cursor: nil).changed
            cursor = batch.cursor
            if !batch.hasMore { return changed }
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
