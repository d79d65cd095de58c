import Foundation
import GRDB
import Logging

extension Snapshots {
    public static let keptAsidePrefix = "data.db.before-restore-"
    private static let foldLock = NSLock()

    /// Replaces the database in `directory` with a verified snapshot. The
    /// daemon must be stopped (the caller checks); no `syncctl` may have the
    /// database open (`StoreUseLock`, refused otherwise). The snapshot is
    /// copied into the live `data.db` in place, through SQLite's backup API
    /// in one transaction (`ExclusiveDatabase`): the file keeps its name and
    /// inode, so a program that has it open goes through SQLite's locks and
    /// then sees the restored content, and no WAL is ever matched to another
    /// file. A copy of the current database is kept aside as
    /// `data.db.before-restore-TIME` until the daemon's next successful
    /// sync; the restored database takes a new replica id, so no dot issued
    /// after the snapshot is ever issued again (replication-model §7).
    /// `progress` gets the phase and the fraction of it done; an error it
    /// throws before the copy in is complete abandons the restore (while
    /// copying in: the copy is rolled back, and the database is as it was);
    /// one thrown at the end (1.0, the copy committed) is ignored. The SQL
    /// edits waiting or refused in the database are carried into the
    /// restored one (`RestoredSQLEdits`); when they cannot be read the
    /// restore is refused (`SnapshotError.cannotCarrySQLEdits`), unless
    /// `abandonUnreadableSQLEdits`.
    public static func restore(_ url: URL, into directory: DataDirectory, deviceID: String?,
                               wallClock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) },
                               random: @Sendable () -> UInt64 = Store.Options().random,
                               abandonUnreadableSQLEdits: Bool = false,
                               progress: (RestorePhase, Double) throws -> Void = { _, _ in }) throws -> RestoreOutcome {
        // Its SQL needs 3.33 (window functions, UPDATE … FROM): refused
        // before anything is touched, not midway.
        if let problem = SQLiteVersion.runningProblem { throw StoreError.cannotOpen(path: directory.databasePath, reason: problem) }
        // Held to the end: no store of this program or of syncctl opens the
        // database meanwhile. (No directory: the dataset check below says so.)
        let useLock = FileManager.default.fileExists(atPath: directory.path) ? try StoreUseLock(directory: directory.url, mode: .exclusive) : nil
        defer { withExtendedLifetime(useLock) {} }
        try requireOwner(of: directory)
        // Read once: the checksum and the contents are checked against it.
        let manifest = try SnapshotManifest.load(for: url)
        let seed = try directory.seedSchema()
        let database = directory.databasePath
        let incoming = database + stagedSuffix
        let asideCopy = database + asideCopySuffix
        for leftover in [incoming, asideCopy] { Store.removeDatabaseFiles(leftover) }
        // The staged copy goes at the end whatever happens: copied in, refused, or not wanted.
        defer { Store.removeDatabaseFiles(incoming) }
        // The file's bytes, never a link to it: the staged copy is written.
        // It is what is verified, checked for the dataset and copied in,
        // whatever happens to the snapshot file meanwhile.
        try FileManager.default.copyItem(atPath: url.resolvingSymlinksInPath().path, toPath: incoming)
        var abandoned: Error?
        try requireVerified(copy: URL(fileURLWithPath: incoming), of: url, manifest: manifest) { done in
            if abandoned == nil { do { try progress(.verifying, done) } catch { abandoned = error } }
        }
        if let abandoned { throw abandoned }
        try requireDataset(of: incoming, named: seed.name)
        CrashPoint.hit("restore.copied")
        let live: ExclusiveDatabase
        do { live = try ExclusiveDatabase(path: database) } catch let error as DatabaseError where [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode) {
            return try restoreOverUnreadable(database, staged: incoming, from: url.lastPathComponent, in: directory.url, seed: seed,
                                             deviceID: deviceID, wall: wallClock(), random: random)
        }
        defer { try? live.close() }
        // The staged copy takes its new replica id, its device and the live
        // file's identity in one transaction before it is copied in: at no
        // point of a crash does data.db hold the snapshot's content under
        // the snapshot's own replica id, so no dot is ever issued twice.
        let (replica, keptColumns) = try prepareRestored(at: incoming, from: url.lastPathComponent, deviceID: deviceID, identity: FileIdentity.of(path: database),
                                                         wall: wallClock(), random: random, seed: seed)
        CrashPoint.hit("restore.staged")
        // The SQL edits waiting here are no slot: the merge of the copy kept
        // aside would not bring them back. Ones that cannot be read (a
        // damaged database) stop the restore, unless the caller lets them go
        // (they are then in the copy kept aside only, and it says so).
        var carried = 0, carryProblem: String?
        do { carried = try live.carrySQLEdits(into: incoming) } catch {
            guard abandonUnreadableSQLEdits else { throw SnapshotError.cannotCarrySQLEdits(database, reason: "\(error)") }
            carryProblem = "\(error)"
        }
        var keptAside: URL?
        // (A file the open above created is empty: nothing to keep.)
        if try live.hasContent() {
            // A copy, made under the restore's lock: it holds every commit
            // up to the instant the restore took the file.
            let aside = keptAsideName(in: directory.url, at: wallClock())
            do {
                try live.copy(to: asideCopy)
                guard rename(asideCopy, aside.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            } catch {
                Store.removeDatabaseFiles(asideCopy)
                throw SnapshotError.cannotKeepAside(aside.path, reason: "\(error)")
            }
            // On the disk before the live file changes.
            try AtomicFile.syncDirectory(of: aside.path)
            keptAside = aside
            CrashPoint.hit("restore.keptAside")
        }
        do {
            try live.replace(with: incoming, progress: { try progress(.copyingIn, $0) }, midway: { CrashPoint.hit("restore.copying") })
        } catch {
            // Rolled back as a rule (the live file is as it was, and its copy
            // aside not needed); but an error after the commit point leaves
            // the restored content in, so the file itself says which.
            let now = live.replicaID()
            if now == nil || now != replica {
                // The copy aside goes only when the original is seen back.
                if now != nil, let keptAside { Store.removeDatabaseFiles(keptAside.path) }
                throw SnapshotError.cannotCopyIn(database, reason: "\(error)")
            }
        }
        CrashPoint.hit("restore.replaced")
        try live.close()
        return RestoreOutcome(replica: replica, keptAside: keptAside, sqlEditsCarried: carried, sqlEditsNotCarried: carryProblem, keptColumns: keptColumns)
    }

    /// What a restore did.
    public struct RestoreOutcome: Sendable {
        /// The restored database's new replica id.
        public let replica: ReplicaID
        /// The database as it was, kept aside (merged back after the next
        /// sync; one SQLite could not open is only kept).
        public let keptAside: URL?
        /// SQL edits waiting or refused in the replaced database, carried
        /// into the restored one (`RestoredSQLEdits`).
        public var sqlEditsCarried = 0
        /// Why they could not be read (a damaged database): they are in the
        /// copy kept aside only.
        public var sqlEditsNotCarried: String?
        /// Cells of columns an analyst had added to the snapshot's
        /// collection tables, copied into tables of their own in the
        /// restored database (`KeptColumns`), which makes those tables again.
        public var keptColumns: [KeptColumns] = []
    }

    /// The phases of a restore that report progress.
    public enum RestorePhase: String, Sendable {
        case verifying = "verifying the snapshot"
        case copyingIn = "copying it into the database"
    }

    /// A data.db that SQLite cannot open as a database (its header or its
    /// schema is garbage): unless a program holds it, it is renamed aside
    /// with its companions, under a name no merge picks up, and the staged
    /// copy takes its place.
    private static func restoreOverUnreadable(_ database: String, staged: String, from name: String, in directory: URL, seed: Schema,
                                              deviceID: String?, wall: UInt64, random: @Sendable () -> UInt64) throws -> RestoreOutcome {
        // A program that has the file open would go on with it, and find
        // the restored file's WAL and journal by name: refused, whether it
        // holds SQLite's locks (seen whatever account runs it) or, idle,
        // none (seen by its descriptors: another account's only by root).
        let others = Array(Set(([""] + Store.databaseCompanions).flatMap { FileOpeners.pids(of: database + $0) })).sorted()
        if !others.isEmpty { throw SnapshotError.databaseOpenElsewhere(database, pids: others) }
        if FileOpeners.sqliteLockHeld(on: database) { throw SnapshotError.databaseBusy(database) }
        let (replica, keptColumns) = try prepareRestored(at: staged, from: name, deviceID: deviceID, identity: FileIdentity.of(path: staged), wall: wall,
                                                         random: random, seed: seed)
        let aside = keptAsideName(in: directory, at: wall, prefix: unreadableAsidePrefix)
        // A second name first: data.db exists at every instant, so a crash
        // never leaves the directory without one (syncd would seed afresh).
        guard link(database, aside.path) == 0 else {
            throw SnapshotError.cannotKeepAside(aside.path, reason: String(cString: strerror(errno)))
        }
        // Its WAL, index and journal go with it: SQLite takes a -wal beside
        // a file as that file's (and a hot journal too), and would apply
        // the old file's frames to the restored one.
        for suffix in Store.databaseCompanions where FileManager.default.fileExists(atPath: database + suffix) {
            guard rename(database + suffix, aside.path + suffix) == 0 else {
                throw SnapshotError.cannotKeepAside(aside.path + suffix, reason: "rename: " + String(cString: strerror(errno)))
            }
        }
        try AtomicFile.syncDirectory(of: aside.path)
        guard rename(staged, database) == 0 else {
            throw SnapshotError.cannotKeepAside(database, reason: "rename: " + String(cString: strerror(errno)))
        }
        try? AtomicFile.syncDirectory(of: database)
        return RestoreOutcome(replica: replica, keptAside: aside, keptColumns: keptColumns)
    }

    /// Refuses a restore run by another account than the owner of the
    /// database (of the data directory when there is none yet), as with
    /// `sudo`: the files it creates (the copy kept aside, SQLite's journal
    /// of the copy) would be its own, and the owner's daemon could not
    /// merge that copy, nor roll back that journal after a crash.
    /// `syncctl` asks before it creates anything (`syncd.lock`).
    public static func requireOwner(of directory: DataDirectory) throws {
        var owner = stat()
        let path = FileManager.default.fileExists(atPath: directory.databasePath) ? directory.databasePath : directory.path
        guard stat(path, &owner) == 0, owner.st_uid != geteuid() else { return }
        throw SnapshotError.notOwner(path, owner: owner.st_uid, running: geteuid())
    }

    /// What a restore killed before its end leaves beside the database
    /// (the snapshot's staged copy, a copy of the database not yet kept
    /// aside): removed by a daemon at its start, which holds `syncd.lock`
    /// as every restore does (`syncctl snapshot restore`), so none runs.
    public static func removeRestoreLeftovers(in directory: URL) -> [String] {
        let database = DataDirectory(url: directory).databasePath
        return [database + stagedSuffix, database + asideCopySuffix].filter { FileManager.default.fileExists(atPath: $0) }.map { path in
            Store.removeDatabaseFiles(path)
            return URL(fileURLWithPath: path).lastPathComponent
        }
    }

    /// The names, beside data.db, of the snapshot's copy a restore copies
    /// in and of the copy of the database it is about to keep aside.
    static let stagedSuffix = ".restoring"
    static let asideCopySuffix = ".restoring-aside"

    /// What a database kept aside becomes, once merged, when it holds tables
    /// or columns of the analyst's that the live database lacks
    /// (`AnalystDataAside`): kept for them, never merged again.
    public static let analystDataAsidePrefix = "data.db.own-data-before-restore-"

    /// Where a restore keeps a data.db SQLite could not open as a database.
    public static let unreadableAsidePrefix = "data.db.unreadable-before-restore-"

    /// Refuses a snapshot whose database records another dataset (older
    /// snapshots record none: they hold the shipped one).
    static func requireDataset(of path: String, named expected: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        let held = try queue.read { db in
            try db.holdsTable("sync_meta") ? try String.fetchOne(db, sql: "SELECT value FROM sync_meta WHERE key = ?", arguments: [MetaKey.dataset]) : nil
        }
        let dataset = held ?? SchemaLineage.shipped
        if !dataset.utf8.elementsEqual(expected.utf8) { throw SnapshotError.otherDataset(path, held: dataset, here: expected) }
    }

    /// A free name for the database a restore keeps aside, stamped with the
    /// wall clock: a clock set back (or two restores within a millisecond)
    /// would otherwise name a file already kept aside, and the restore fail.
    static func keptAsideName(in directory: URL, at wall: UInt64, prefix: String = keptAsidePrefix) -> URL {
        let stamp = defaultName(at: Date(timeIntervalSince1970: Double(wall) / 1_000)).replacingOccurrences(of: "." + fileExtension, with: "")
        var aside = directory.appendingPathComponent(prefix + stamp)
        var suffix = 2
        while FileManager.default.fileExists(atPath: aside.path) {
            aside = directory.appendingPathComponent(prefix + stamp + "-\(suffix)")
            suffix += 1
        }
        return aside
    }

    /// Gives the staged copy at `path` a new replica id, records the device
    /// and `identity` (that of the file it will be copied into, or its own
    /// when it is renamed into place), and makes it one self-contained file
    /// in rollback mode, the mode the restored data.db keeps until its first
    /// store opens it (which turns WAL on).
    ///
    /// Returns the new id, and the cells of columns an analyst had added to
    /// the snapshot's collection tables, copied into tables of their own
    /// before those are made again (`KeptColumns`).
    static func prepareRestored(at path: String, from name: String, deviceID: String?, identity: String?,
                                wall: UInt64, random: @Sendable () -> UInt64, seed: Schema? = nil) throws -> (replica: ReplicaID, kept: [KeptColumns]) {
        // As on the store's own connections: no trigger the file brings fires
        // here, and an analyst's foreign key to a collection table neither
        // stops nor cascades its rebuild.
        let queue = try DatabaseQueue(path: path, configuration: Store.ownConnectionConfiguration())
        defer { try? queue.close() }
        var kept: [KeptColumns] = []
        let replica = try queue.write { db in
            // Nor later, on an analyst's SQL client: every trigger goes
            // (verification lets only `sync_sql_…` names through, and cannot
            // read what their bodies do); the queue tables are declared
            // again as this build declares them; and the collection tables,
            // which verification does not compare with the records, are
            // written from the records, with this build's indexes and
            // SQL-edit triggers (`CollectionViews`). In a file of an older
            // storage format they are only dropped: the first store open,
            // which brings the format up, writes them (until then an SQL
            // client finds no table to write to).
            // What the file's SQL edits left for the next (`SQLEditReads`)
            // is no one's to trust: an edit is planned against what it read.
            try SQLEditReads.removeAll(db)
            if let seed {
                for name in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'") {
                    try db.execute(sql: "DROP TRIGGER \(name.quotedDatabaseIdentifier)")
                }
                try RestoredSQLEdits.redeclare(in: db, reason: RestoredSQLEdits.snapshotReason(name), at: Int64(clamping: wall))
                let schema = try SchemaEvolution.effective(seed: seed, in: db).schema
                // Columns an analyst had added, in the snapshot: copied aside first.
                let views = CollectionViews(schema: schema)
                kept = try schema.tableCollections.compactMap { try views.keepUndeclaredColumns(of: $0, in: db) }
                for collection in schema.tableCollections { try db.dropTableOrView(named: collection.name) }
                if Int.fromDatabaseValue(try db.meta(MetaKey.format)) == StoreTables.formatVersion {
                    try CollectionViews(schema: schema).prepare(in: db)
                }
            }
            let replica = try Store.startNewReplica(reason: "restored from snapshot \(name)", device: deviceID, at: wall, random: random, in: db)
            if let deviceID { try db.setMeta(MetaKey.device, deviceID) }
            if let identity { try db.setMeta(MetaKey.fileIdentity, identity) }
            return replica
        }
        try queue.writeWithoutTransaction { db in
            if try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal" { try db.truncateWAL() }
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
        }
        return (replica, kept)
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
    /// (replication-model §7). A file that cannot be merged is kept and logged;
    /// what was kept, and why, is returned (`KeptAsideRetry` says when to try
    /// again). `only`: the names a sync cleared (a retry's), nil for all.
    @discardableResult
    public static func mergeAndRemoveKeptAside(into store: Store, logger: Logger, only: Set<String>? = nil) -> KeptAsideFold {
        // Sessions with different peers can catch up at once: one fold at a
        // time in the process, so none opens a file another is removing.
        foldLock.lock()
        defer { foldLock.unlock() }
        var fold = KeptAsideFold()
        let directory = URL(fileURLWithPath: store.path).deletingLastPathComponent()
        for name in keptAside(in: directory) where only?.contains(name) ?? true {
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
            // A crash between the two steps of `keepForTheAnalyst` left this
            // name beside the one that keeps the copy: it goes, unopened.
            if keptForTheAnalystAlready(path, in: directory) {
                unlink(path)
                try? FileManager.default.removeItem(atPath: path + ".counter")
                try? AtomicFile.syncDirectory(of: path)
                logger.info("removed a second name of a database kept for the analyst, left by an interrupted fold", metadata: ["file": "\(name)"])
                continue
            }
            do {
                let changed = try mergeKeptAside(at: path, into: store)
                // The merge on the disk before the copy goes: its commits
                // (synchronous = NORMAL) are in the WAL, which a power cut
                // could take while keeping the removal below.
                do { try store.syncCommittedToDisk() } catch {
                    logger.warning("merged the database kept aside by a restore, but could not make the merge durable; the copy is kept and merged again (no change) after the next sync, or sooner when the disk was full", metadata: [
                        "file": "\(name)", "error": "\(error)"])
                    // The last page of a full disk fails it too: tried again
                    // then (a merge again that changes nothing).
                    if ReadFailure.passes(error) { fold.stoppedByPassingFailure.append(name) } else { fold.keptForOtherReasons.append(name) }
                    continue
                }
                // Tables, views, triggers and added columns of the analyst's
                // are no slots: a copy holding any the live database lacks is
                // kept for them (`AnalystDataAside`).
                let lacking: [String]
                do { lacking = try AnalystDataAside.missing(in: path, from: store.path) } catch {
                    logger.warning("merged the database kept aside by a restore, but could not compare it with the live database for tables or columns of your own; it is kept under its name and compared again after the next sync", metadata: [
                        "file": "\(name)", "error": "\(error)"])
                    fold.keptForOtherReasons.append(name)
                    continue
                }
                if !lacking.isEmpty {
                    if !keepForTheAnalyst(path, named: name, lacking: lacking, changed: changed, in: directory, logger: logger) {
                        fold.keptForOtherReasons.append(name)
                    }
                    continue
                }
                // The companions first: a stop in between leaves the main
                // file, which the next fold merges (no change) and removes
                // with them, not companions that nothing lists.
                for suffix in Store.databaseCompanions + [".counter", ""] { try? FileManager.default.removeItem(atPath: path + suffix) }
                logger.info("merged and removed the database kept aside by a restore: a sync has succeeded since", metadata: [
                    "file": "\(name)", "slots_changed": "\(changed)"])
                try? AtomicFile.syncDirectory(of: path)
            } catch {
                // A real full disk often fails the copy's open (its WAL
                // index, its journal) with an I/O error before anything is
                // written: the free space says what the error does not.
                let free = FreeSpace.bytes(at: directory.path)
                let passes = KeptAsideFold.passes(error, freeBytes: free)
                if passes { fold.stoppedByPassingFailure.append(name) } else { fold.keptForOtherReasons.append(name) }
                logger.warning("could not merge the database kept aside by a restore; it is kept", metadata: [
                    "file": "\(name)", "error": "\(error)", "free_mb": "\(free.map { "\($0 >> 20)" } ?? "?")",
                    "tried_again": "\(passes ? "by itself, soon" : "after the next session's sync")"])
            }
        }
        return fold
    }

    /// Renames a merged copy kept aside that holds the analyst's own data
    /// to a free `data.db.own-data-before-restore-…` name (never merged
    /// again), as one self-contained file, and says what it holds. False
    /// when it could not (the copy then stays under its name).
    private static func keepForTheAnalyst(_ path: String, named name: String, lacking: [String], changed: Int, in directory: URL, logger: Logger) -> Bool {
        let suffix = String(name.dropFirst(keptAsidePrefix.count))
        var kept = directory.appendingPathComponent(analystDataAsidePrefix + suffix)
        var number = 2
        var info = stat()
        // Any entry, a dangling link included, takes a name.
        while lstat(kept.path, &info) == 0 {
            kept = directory.appendingPathComponent(analystDataAsidePrefix + suffix + "-\(number)")
            number += 1
        }
        do {
            // No WAL to part from it; its counter mark (of a merged copy) goes first.
            let queue = try DatabaseQueue(path: path)
            try queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = DELETE") }
            try queue.close()
            try? FileManager.default.removeItem(atPath: path + ".counter")
            // A second name, which fails rather than replace a file made
            // since the check above; then the first goes.
            guard link(path, kept.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            // The new name on the disk before the old one goes.
            try AtomicFile.syncDirectory(of: kept.path)
            unlink(path)
        } catch {
            logger.warning("merged the database kept aside by a restore, which holds tables or columns of your own the live database lacks, but could not rename it (another program has it open?); it is kept under its name and merged again (no change) after the next sync", metadata: [
                "file": "\(name)", "error": "\(error)", "lacking": "\(lacking.joined(separator: "; "))"])
            return false
        }
        try? AtomicFile.syncDirectory(of: path)
        logger.warning("merged the database kept aside by a restore or a join; it holds tables or columns of your own that the live database lacks (no replicated data), so it is kept: copy what you need from it with sqlite3, then remove it", metadata: [
            "file": "\(name)", "kept_as": "\(kept.lastPathComponent)", "slots_changed": "\(changed)", "lacking": "\(lacking.joined(separator: "; "))"])
        return true
    }

    /// Whether a regular file named `data.db.own-data-before-restore-…` is
    /// the same file as the one at `path` (compared without following links).
    static func keptForTheAnalystAlready(_ path: String, in directory: URL) -> Bool {
        guard let mine = FileIdentity.ofRegularFile(path: path) else { return false }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.contains { $0.hasPrefix(analystDataAsidePrefix) && FileIdentity.ofRegularFile(path: directory.appendingPathComponent($0).path) == mine }
    }

    /// Applies every slot of the database at `path` to `store`, as received
    /// from the replica recorded in it; returns the slots that changed.
    static func mergeKeptAside(at path: String, into store: Store) throws -> Int {
        let replica = try DatabaseQueue(path: path).read { try $0.replicaID() }
        // The copy in WAL mode, its WAL and WAL index made, on a connection
        // of its own that stays open while the store opens it: on a full
        // disk these fail with SQLite's own error, which the fold reads,
        // and the store's open (which would wrap an error in one of its
        // own) finds a WAL there and writes nothing to set one up.
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        let mode = try queue.writeWithoutTransaction { db in
            let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master")
            return mode
        }
        guard mode?.lowercased() == "wal" else {
            throw DatabaseError(resultCode: .SQLITE_ERROR, message: "SQLite left the copy kept aside in \(mode ?? "no") journal mode, not WAL")
        }
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
