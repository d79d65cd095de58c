import Foundation
import GRDB
import GRDBSQLite
import Logging

extension Store {
    /// A consistent copy of this database at `url` for a peer to join by
    /// (SQLite's online backup in one step, inside one read transaction, so
    /// whole transactions only), as one file; returns its size.
    public func takeJoinSnapshot(to url: URL) throws -> UInt64 {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let seed = self.seed
        try copyDatabase(to: url) { db in try Self.dropSQLEdits(db, seed: seed) }
        return UInt64((try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0)
    }

    /// Copies this database to `url` as one self-contained file (SQLite's
    /// online backup in one step, inside one read transaction: whole
    /// transactions only), then runs `finish` in a transaction on the copy.
    /// A copy that fails is removed.
    private func copyDatabase<T>(to url: URL, finish: (Database) throws -> T) throws -> T {
        let copy = try DatabaseQueue(path: url.path, configuration: Self.ownConnectionConfiguration())
        do {
            try pool.backup(to: copy)
            try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            let result = try copy.write(finish)
            try copy.close()
            return result
        } catch {
            try? copy.close()
            Self.removeDatabaseFiles(url.path)
            throw error
        }
    }

    /// `removeDatabaseFiles` on a thread of its own, for a snapshot just
    /// used: unlinking gigabytes whose pages are cached takes a second or
    /// more, which a connection's close must not wait for. The files are
    /// first moved (at once) into `trash`, which the next start empties
    /// whatever a crash or a stop left there: a leftover there is not a join
    /// cut short (`SyncNode`).
    static func removeDatabaseFilesLater(_ path: String, via trash: URL) {
        let name = URL(fileURLWithPath: path).lastPathComponent
        let moved = trash.appendingPathComponent("\(UUID().uuidString)-\(name)").path
        do {
            try FileManager.default.createDirectory(at: trash, withIntermediateDirectories: true)
            for suffix in ["", "-journal", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
                try FileManager.default.moveItem(atPath: path + suffix, toPath: moved + suffix)
            }
        } catch {
            removeDatabaseFiles(path)
        }
        DispatchQueue.global(qos: .utility).async { removeDatabaseFiles(moved) }
    }

    /// The folder, beside the database, of used snapshots being removed.
    static let joinTrashFolder = "join-trash"

    /// Removes a database file and whatever SQLite keeps beside it.
    static func removeDatabaseFiles(_ path: String) {
        for suffix in [""] + databaseCompanions { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// SQL edits waiting or refused here are this analyst's, not replicated:
    /// in the copy a joiner gets, their queue rows go and the table rows they
    /// touched read again as their records do (docs/sql.md), so the copy's
    /// tables are exactly the replicated state. So do indexes of this
    /// analyst's on the collection tables (`Store.analystIndexes`: a UNIQUE
    /// one, or one on an expression that raises an error, refuses rows), tables
    /// another program made again (made again from the records), and, when
    /// there was such an index, any row that differs from the state (one it
    /// held back, replication-model §8): the joiner checks every row.
    static func dropSQLEdits(_ db: Database, seed: Schema) throws {
        try disableTriggers(db)
        // This replica's own records of devices, ids, clocks and collisions
        // are not a joiner's to take, and freed pages are zeroed.
        try db.execute(sql: "PRAGMA secure_delete = ON")
        for table in ["sync_peer_devices", "sync_replica_log", "sync_clock_reports", "sync_dot_collisions"] where try db.holdsTable(table, in: "main") {
            try db.execute(sql: "DELETE FROM main.\(table)")
        }
        let schema = try SchemaEvolution.effective(seed: seed, in: db).schema
        // First: a row read again below must not be refused by one, nor by
        // a constraint of a table another program made again (made again
        // here from the records, keyed by id alone).
        // (A UNIQUE one may have held rows back before the mark existed;
        // one on an expression sets the mark when it refuses a row.)
        let unique = try uniqueIndexes(db, tables: schema.tableCollections.map(\.name))
        for (_, index) in try analystIndexes(db, collections: schema.tableCollections, views: CollectionViews(schema: schema)) {
            try db.execute(sql: "DROP INDEX main.\(index.quotedDatabaseIdentifier)")
        }
        _ = try rebuildCollectionTables(in: db, schema: schema, keepingColumns: false)
        let views = CollectionViews(schema: schema)
        for collection in schema.tableCollections {
            let queue = SQLEditQueue.tableName(collection.name)
            guard try db.holdsTable(queue) else { continue }
            let ids = try DatabaseValue.fetchAll(db, sql: "SELECT \"old id\" FROM \(queue.quotedDatabaseIdentifier) UNION SELECT \"new id\" FROM \(queue.quotedDatabaseIdentifier)")
            for id in ids {
                guard let text = String.fromDatabaseValue(id) else { continue }
                try views.refresh(RecordRef(collection: collection.name, id: text), in: db)
            }
            try db.execute(sql: "DELETE FROM \(queue.quotedDatabaseIdentifier)")
        }
        try SQLEditReads.removeAll(db)
        // (Only then, or while a row held back was not repaired since: the
        // full comparison costs seconds at a million records.)
        let heldBack = !(try db.meta(MetaKey.rowsHeldBack)).isNull
        // (The repair writes by difference: with nothing differing, it writes nothing.)
        if !unique.isEmpty || heldBack { _ = try repairViews(in: db, schema: schema) }
        try db.execute(sql: "DELETE FROM sync_meta WHERE key = ?", arguments: [MetaKey.rowsHeldBack])
    }

    /// What adopting a join snapshot did.
    public struct JoinAdoption: Sendable {
        /// The replica id this store writes under from now on.
        public let replica: ReplicaID
        /// The one it wrote under before (it issues no more dots).
        public let previous: ReplicaID
        /// The database as it was, kept aside and merged back in after the
        /// next successful sync (as after a restore).
        public let keptAside: URL
    }

    /// Replaces the replicated state with a checked join snapshot, in one
    /// transaction (replication-model §4.6): every reader sees the old state
    /// or the new one. The database as it was is first copied aside (SQLite's
    /// backup); the transaction checks that no replicated write came in
    /// since, and names the copy `data.db.before-restore-…` before it
    /// commits, so whatever only this replica held is merged back after the
    /// next successful sync. The store
    /// takes a new replica id (no dot the peer or the old id issued is ever
    /// issued again), the snapshot's feed, the peer's cursors for others and
    /// a cursor for the peer at the snapshot's highest seq, and records where
    /// its feed came from for the hellos (`JoinOrigin`).
    public func adoptJoinSnapshot(at path: String, facts: JoinSnapshotFacts, reason: String) throws -> JoinAdoption {
        try adoptJoinSnapshot(at: path, reason: { _ in reason }, checkingWith: { facts }).adoption
    }

    /// What `adoptJoinSnapshot(at:reason:checkingWith:)` found and did.
    public struct CheckedJoinAdoption: Sendable {
        public let facts: JoinSnapshotFacts
        public let adoption: JoinAdoption
        /// When the check ended (the copy may have gone on after it).
        public let checkedAt: ContinuousClock.Instant
        /// Rows of the snapshot's tables that a constraint of this analyst's
        /// own refused: missing here until it goes and `syncctl check
        /// --repair` writes them (replication-model §8).
        public let heldBack: RefusedRows
        /// Rows the collection tables lack after the adoption (`heldBack`,
        /// and rows a REPLACE or IGNORE conflict clause of a table made
        /// again dropped without an error, which no one can name).
        public let rowsMissing: Int
    }

    /// `adoptJoinSnapshot(at:facts:reason:)` with the check (`check`,
    /// normally `JoinSnapshotCheck.verify`) running on threads of its own
    /// while the transaction copies the file's rows: the copy waits for the
    /// check's facts before it writes anything that depends on them (the
    /// digest, the cursors, the new replica id) and before it commits. A
    /// check that refuses rolls the copy back, so a snapshot is adopted only
    /// once checked, as before; only the time of the two overlaps.
    public func adoptJoinSnapshot(at path: String, reason: @escaping @Sendable (JoinSnapshotFacts) -> String,
                                  checkingWith check: @escaping @Sendable () throws -> JoinSnapshotFacts) throws -> CheckedJoinAdoption {
        let directory = URL(fileURLWithPath: self.path).deletingLastPathComponent()
        let wall = options.wallClock()
        let aside = Snapshots.keptAsideName(in: directory, at: wall)
        // Written under a name no kept-aside merge takes, and given its name
        // inside the swap's transaction: a merge that found it any earlier
        // would merge it into the state about to be replaced, and remove it.
        let staging = directory.appendingPathComponent(Self.joinAsideStagingPrefix + UUID().uuidString)
        let seed = self.seed
        let logger = options.logger, livePath = self.path
        let random = options.random
        // The database as it is, copied aside first (SQLite's online backup,
        // one read transaction); the replacement below then checks that no
        // replicated write came in since (every one takes a higher seq), so
        // nothing held only here can fall between the copy and the swap.
        let copiedAt = try keepAside(at: staging)
        CrashPoint.hit("join.keptAside")
        let checking = BackgroundCheck(check)
        // Never returns before the check has ended: it reads the file the caller removes.
        defer { _ = try? checking.value() }
        let result: (ReplicaID, ReplicaID, SchemaEvolution.Effective, JoinSnapshotFacts, CopiedState)
        do {
            result = try pool.writeWithoutTransaction { db -> (ReplicaID, ReplicaID, SchemaEvolution.Effective, JoinSnapshotFacts, CopiedState) in
                try db.execute(sql: "ATTACH DATABASE ? AS joined", arguments: [path])
                // A checkpoint right after the commit would copy the whole
                // WAL into the file while the sessions reconnect:
                // `checkpointAfterJoin` does it afterwards, and lets the
                // checkpoints start again.
                checkpointer.pause()
                var committed = false
                defer {
                    if !committed { checkpointer.resume() }
                    try? db.execute(sql: "DETACH DATABASE joined")
                }
                var outcome: (ReplicaID, ReplicaID, SchemaEvolution.Effective, JoinSnapshotFacts, CopiedState)?
                try db.inTransaction(.immediate) {
                    guard try Database.highestSeq(db) == copiedAt else { throw JoinSnapshotRefusal("this replica wrote while the snapshot was adopted; it pulls instead") }
                    let previous = try db.replicaID()
                    let copied = try Self.interruptible(db, by: checking) { try Self.copyState(db, seed: seed) }
                    KeptColumns.log(copied.kept, logger: logger, path: livePath, in: db)
                    // Nothing below runs, and nothing commits, unless the check passed.
                    let facts = try checking.value()
                    let (replica, effective) = try Self.finishState(db, copied: copied, facts: facts, reason: reason(facts), wall: wall, random: random)
                    outcome = (replica, previous, effective, facts, copied)
                    // Still under the write lock: a crash before the commit
                    // leaves the old state and a copy of it (merged later: no change).
                    // A second name, then the first removed: never over a
                    // file of that name (a restore's, taken meanwhile).
                    guard link(staging.path, aside.path) == 0 else {
                        throw StoreError.invalidEdit("cannot name the database kept aside \(aside.lastPathComponent): \(String(cString: strerror(errno)))")
                    }
                    unlink(staging.path)
                    // The name on the disk before the commit is: a power cut
                    // could otherwise keep the commit and lose the name, and
                    // the copy would be the only one of what this replica
                    // alone held (a leftover staging copy is merged too,
                    // `keepLeftoverJoinAsides`, but not every file system
                    // keeps the staging name either).
                    try AtomicFile.syncDirectory(of: aside.path)
                    CrashPoint.hit("join.named")
                    return .commit
                }
                guard let outcome else { throw StoreError.invalidEdit("the join transaction did not run") }
                committed = true
                return outcome
            }
        } catch {
            Self.removeDatabaseFiles(staging.path)
            // Named before a commit that failed, it is kept: merging it
            // changes nothing if the commit is lost, and a commit that
            // failed on its way to the disk may still be found in the WAL
            // at the next open (then it holds what only this replica held).
            // (What the rolled-back copy spilled into the WAL is reused and
            // cut back at the next checkpoint, `journal_size_limit`: a
            // checkpoint here would wait for readers with the write lock.)
            // The check's failure is the reason, whatever the copy met
            // meanwhile (a damaged file fails to attach or to read; a failed
            // check interrupts the copy): waited for, as the copy can fail
            // before the check has ended.
            _ = try checking.value()
            throw error
        }
        current.replace(result.2)
        retireInMark(result.1)
        let copied = result.4
        if copied.rowsMissing > 0 {
            var metadata: Logger.Metadata = ["path": "\(livePath)", "peer": "\(result.3.replica)", "count": "\(copied.rowsMissing)",
                                             "refused": "\(copied.heldBack.count)"]
            if let first = copied.heldBack.listed.first { (metadata["record"], metadata["reason"]) = ("\(first.ref)", "\(first.reason)") }
            logger.warning("a collection table of this replica refused rows of the join snapshot (a UNIQUE index of the analyst's own, an index or constraint on an expression that fails for the row, or a constraint of a table another program made again): the snapshot is adopted, the rows are missing here; `syncctl check` names the rows and what refuses them; drop it, then `syncctl check --repair` writes the rows",
                           metadata: metadata)
        }
        return CheckedJoinAdoption(facts: result.3, adoption: JoinAdoption(replica: result.0, previous: result.1, keptAside: aside),
                                   checkedAt: checking.endedAt ?? .now, heldBack: copied.heldBack, rowsMissing: copied.rowsMissing)
    }

    /// Copies the database to `url` (SQLite's online backup in one step,
    /// inside one read transaction), marks the copy whole
    /// (`MetaKey.joinAsideComplete`, in the copy's last transaction, with
    /// the copy's own file identity: merging it back is not taken for
    /// opening a copy) and returns the highest seq of the copy.
    private func keepAside(at url: URL) throws -> Int64 {
        try copyDatabase(to: url) { db in
            try db.setMeta(MetaKey.joinAsideComplete, 1)
            if let identity = FileIdentity.of(path: url.path) { try db.setMeta(MetaKey.fileIdentity, identity) }
            return try Database.highestSeq(db)
        }
    }

    /// Removes a join's mark of a whole copy from a data directory's live
    /// database: it is there only when a copy a join kept aside was moved
    /// back to `data.db` by hand, and every later copy would inherit it from
    /// its first pages, so a copy a crash cut short could read as whole
    /// (`LeftoverJournal.isStale`) and its journal be removed unread.
    static func clearInheritedJoinMark(in db: Database) throws {
        guard !(try db.meta(MetaKey.joinAsideComplete)).isNull else { return }
        try db.execute(sql: "DELETE FROM sync_meta WHERE key = ?", arguments: [MetaKey.joinAsideComplete])
    }

    /// Whether `table` is, in the attached snapshot, a plain table declared
    /// exactly as here: only then do rows read from it read as the check read
    /// them (not a view, not a table of other columns or types).
    static func declaredAlike(_ table: String, in db: Database) throws -> Bool {
        let sql = "SELECT type, sql FROM %@.sqlite_master WHERE name = ? AND type IN ('table', 'view')"
        let here = try Row.fetchAll(db, sql: sql.replacingOccurrences(of: "%@", with: "main"), arguments: [table])
        let there = try Row.fetchAll(db, sql: sql.replacingOccurrences(of: "%@", with: "joined"), arguments: [table])
        guard here.count == 1, there.count == 1, (here[0][0] as String?) == "table", (there[0][0] as String?) == "table",
              let ours = here[0][1] as String?, let theirs = there[0][1] as String? else { return false }
        return Array(ours.utf8) == Array(theirs.utf8)
    }

    /// Copies the attached snapshot's `table` into this database's (declared
    /// alike, `declaredAlike`, checked by the caller), naming its columns.
    /// Named, not `SELECT *`: that form lets SQLite copy rows and index
    /// entries as stored (its transfer optimization), which would carry over
    /// what the check never reads — cells past a table's declared columns
    /// (SQLite ignores them on reading; a column added later would show
    /// them) and the snapshot's rowids (recent changes walk history by
    /// rowid). Measured, it saved 0.2 s of 3 s at 100,000 records.
    /// `inOrder`: the rows go in in the snapshot's rowid order (history,
    /// which recent changes walk by rowid). `condition`: only the rows it holds for.
    static func copyWhole(_ table: String, inOrder: Bool = false, where condition: String? = nil, arguments: StatementArguments = [],
                          in db: Database) throws {
        let columns = try db.columns(in: table, in: "main").map(\.name.quotedDatabaseIdentifier).joined(separator: ", ")
        let name = table.quotedDatabaseIdentifier
        try db.execute(sql: "INSERT INTO main.\(name)(\(columns)) SELECT \(columns) FROM joined.\(name)"
                           + (condition.map { " WHERE \($0)" } ?? "") + (inOrder ? " ORDER BY rowid" : ""), arguments: arguments)
    }

    /// What `copyState` copied that the rest depends on.
    struct CopiedState {
        let effective: SchemaEvolution.Effective
        /// The schema hash the snapshot's tables were made for, as its file
        /// says (the check compares it with the one its records define).
        let snapshotSchemaHash: [UInt8]
        /// Columns an analyst had added, copied aside (logged once committed).
        let kept: [KeptColumns]
        /// Rows a constraint of this analyst's own refused (logged once committed).
        let heldBack: RefusedRows
        /// Rows the collection tables lack after the copy: those held back,
        /// and those a table's own conflict clause dropped without an error.
        let rowsMissing: Int
    }

    /// The adoption's first part, which needs nothing the check finds: the
    /// replicated tables emptied and filled from the snapshot's.
    private static func copyState(_ db: Database, seed: Schema) throws -> CopiedState {
        for table in ["sync_meta", "sync_records", "sync_feed", "sync_history", "sync_schema_problems"] where try !declaredAlike(table, in: db) {
            throw JoinSnapshotRefusal("its table \(table) is not declared as this daemon's")
        }
        // Columns an analyst added to a collection table are copied aside
        // first (`KeptColumns`): emptied below, the table would keep none of them.
        let before = try SchemaEvolution.effective(seed: seed, in: db).schema
        let views = CollectionViews(schema: before)
        var kept = try before.tableCollections.compactMap { try views.keepUndeclaredColumns(of: $0, in: db) }
        // The collection tables first, while they still match the records.
        // A table another program made again in other case (`Kilns` for an
        // added `kilns`) is its maker's: its collection is withheld and its
        // rows are theirs. A seed collection is never withheld: its table,
        // under any case, is syncd's.
        for collection in try CollectionViews.tablesMade(in: db) {
            guard let (kind, stored) = try db.storedObject(named: collection), kind == "table",
                  UTF8Identity.equal(stored, collection) || seed.collection(collection) != nil else { continue }
            try db.execute(sql: "DELETE FROM main.\(collection.quotedDatabaseIdentifier)")
        }
        // Knowledge is not taken over (it would be true, the snapshot holding
        // what the peer held; none is merely safe): it starts again.
        for table in ["sync_records", "sync_feed", "sync_history", "sync_buckets", "sync_schema_problems", "sync_dot_collisions", "sync_cursors",
                      "sync_knowledge"] {
            try db.execute(sql: "DELETE FROM main.\(table)")
        }
        // What SQL edits waiting here left for the next (`SQLEditReads`)
        // was read from the state being replaced.
        try SQLEditReads.forget(collection: nil, in: db)
        // The schema's own records, then the tables that schema makes (empty
        // yet, so making them costs nothing), then every other record.
        try copyWhole("sync_records", where: "collection = ?", arguments: [SchemaEvolution.collection], in: db)
        let effective = try SchemaEvolution.effective(seed: seed, in: db)
        kept += try Self.adopt(effective, in: db)
        try copyWhole("sync_records", where: "collection <> ?", arguments: [SchemaEvolution.collection], in: db)
        for table in ["sync_feed", "sync_history", "sync_schema_problems"] { try copyWhole(table, inOrder: table == "sync_history", in: db) }
        // The collection tables: the snapshot's rows (checked equal to their
        // records) when its schema is ours, else written from the records.
        // (A table declared otherwise there — columns added in another order
        // — is written from the records here.)
        let adopted = CollectionViews(schema: effective.schema)
        let recorded = try Data.fetchOne(db, sql: "SELECT CAST(value AS BLOB) FROM joined.sync_meta WHERE key = ?", arguments: [MetaKey.schemaHash])
        let snapshotSchemaHash = recorded.map { [UInt8]($0) } ?? []
        let sameSchema = Array(effective.schema.hash.utf8) == snapshotSchemaHash
        let statements = CollectionViews.Statements(db: db)
        var heldBack = RefusedRows()
        var missing = 0
        // Every table is written again below: only what this copy holds
        // back may leave the mark (a join snapshot this replica serves
        // compares every row while it is set).
        try db.execute(sql: "DELETE FROM sync_meta WHERE key = ?", arguments: [MetaKey.rowsHeldBack])
        for collection in effective.schema.tableCollections {
            if sameSchema, try declaredAlike(collection.name, in: db) {
                do {
                    try copyWhole(collection.name, in: db)
                    continue
                } catch where RefusedRows.isRefusal(error, stillInTransaction: db.isInsideTransaction) {
                    // A constraint of this analyst's own (a UNIQUE index they
                    // made on the table) refused a row: the statement is
                    // undone whole, and the rows go in one by one below, the
                    // refused ones held back (replication-model §8).
                }
            }
            let refusedBefore = heldBack.count
            var existing = 0
            try db.forEachStoredRecord(where: "collection = ?", arguments: [collection.name], orderBy: "record") { ref, slots in
                if ViewRow(collection, slots: slots).exists { existing += 1 }
                if let reason = try CollectionViews.unlessRefused(in: db, { try adopted.write(ref, slots: slots, in: db, statements: statements) }) {
                    heldBack.append(ref, reason: reason)
                }
            }
            // Rows a table of this analyst's drops without an error (a
            // REPLACE or IGNORE conflict clause, no key, a key that takes two
            // ids for one) are missing all the same: the table, emptied
            // above, must hold one row per existing record.
            let held = try Int.fetchOne(db, sql: "SELECT count(*) FROM main.\(collection.name.quotedDatabaseIdentifier)") ?? 0
            let lacking = max(0, existing - held)
            missing += max(lacking, heldBack.count - refusedBefore)
            if lacking > 0 { try db.setMeta(MetaKey.rowsHeldBack, 1) }
        }
        try Self.recheckSchemaProblems(effective.schema, in: db)
        return CopiedState(effective: effective, snapshotSchemaHash: snapshotSchemaHash, kept: kept, heldBack: heldBack, rowsMissing: missing)
    }

    /// The adoption's second part, once the check passed: the digest as the
    /// check recomputed it, a new replica id, the cursors, the marks.
    private static func finishState(_ db: Database, copied: CopiedState, facts: JoinSnapshotFacts, reason: String, wall: UInt64,
                                    random: @Sendable () -> UInt64) throws -> (ReplicaID, SchemaEvolution.Effective) {
        // The check read the same file; a hash other than the one the copy
        // read means the file changed between them.
        guard Array(facts.schemaHash.utf8) == copied.snapshotSchemaHash else {
            throw JoinSnapshotRefusal("its schema hash changed while it was adopted")
        }
        let effective = copied.effective
        // The digest as recomputed by the check, not as the file says.
        let bucket = try db.makeStatement(sql: "INSERT INTO main.sync_buckets(bucket, digest) VALUES (?, ?)")
        for (index, digest) in facts.digest.buckets.enumerated() where digest.contains(where: { $0 != 0 }) {
            try bucket.execute(arguments: [index, Data(digest)])
        }
        // A new id: this replica's feed is now another's, and its old id's
        // dots may be in the snapshot or not.
        let device = String.fromDatabaseValue(try db.meta(MetaKey.device))
        let replica = try Self.startNewReplica(reason: reason, device: device, at: wall, random: random, in: db)
        let cursor = try db.makeStatement(sql: """
            INSERT INTO main.sync_cursors(peer, cursor, updated_at, peer_highest) VALUES (?, ?, ?, ?)
            ON CONFLICT(peer) DO UPDATE SET cursor = excluded.cursor, peer_highest = excluded.peer_highest
            """)
        for (peer, value) in facts.cursors where peer != replica && peer != facts.replica && value.cursor > 0 {
            try cursor.execute(arguments: [peer.data, Int64(value.cursor), Int64(wall), value.peerHighest.map { Int64(clamping: $0) }])
        }
        // The peer, read whole: up to its highest seq, which it was.
        try cursor.execute(arguments: [facts.replica.data, Int64(facts.highestSeq), Int64(wall), Int64(facts.highestSeq)])
        // The peer's slots keep its seqs: none defers its history at or
        // below the peer's mark (checked slot by slot), so the feed walk of
        // recentChanges stops there as it did on the peer.
        try db.setMeta(MetaKey.deferredHistorySince, Int64(clamping: facts.deferredHistorySince))
        try db.setMeta(MetaKey.joinOriginReplica, facts.replica.data)
        try db.setMeta(MetaKey.joinOriginSeq, Int64(facts.highestSeq))
        return (replica, effective)
    }

    /// Copies the WAL a join left into the file and cuts it back; what the
    /// adoption skipped so as to serve sooner. The copy (the file's size
    /// again, seconds at a million records) runs on a connection of its own
    /// and blocks no one (a passive checkpoint): the store's writer stays
    /// free for the sessions that reconnect meanwhile. Then the writer cuts
    /// the WAL back, with nothing left to copy; it does not wait for readers
    /// (a wait would hold the write lock): when one still reads, the WAL is
    /// cut back at its next restart (`journal_size_limit`). Blocking: call it
    /// off the cooperative pool. The adoption leaves the store's checkpoints
    /// (`WALCheckpointer`) paused until this has run: call it after every adoption.
    public func checkpointAfterJoin() {
        defer { checkpointer.resume() }
        // One started before the join's pause would keep the cut below from running.
        checkpointer.waitUntilIdle()
        do {
            // Opened only if the file is there (a connection would make an empty one).
            guard FileManager.default.fileExists(atPath: path) else { throw StoreError.invalidEdit("\(path) is gone") }
            var configuration = Configuration()
            configuration.label = "join checkpoint"
            let own = try DatabaseQueue(path: path, configuration: configuration)
            defer { try? own.close() }
            _ = try own.writeWithoutTransaction { db in try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(PASSIVE)") }
        } catch {
            options.logger.warning("could not copy the WAL into the database after adopting a join snapshot", metadata: ["error": "\(error)"])
        }
        do {
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA busy_timeout = 0")
                defer { try? db.execute(sql: "PRAGMA busy_timeout = \(Int(Store.busySeconds * 1_000))") }
                try db.truncateWAL()
            }
        } catch {
            options.logger.warning("could not cut the WAL back after adopting a join snapshot", metadata: ["error": "\(error)"])
        }
    }

    /// Runs `body` (the copy) with SQLite's progress handler set on the
    /// writer: once the check has failed, the running statement stops at its
    /// next 10,000 steps (SQLITE_INTERRUPT, which rolls the transaction
    /// back), so a refused file does not hold the write lock for the whole
    /// copy. Set only around the copy: the statements around it (the
    /// rollback, DETACH, the pragmas) never see it.
    private static func interruptible<T>(_ db: Database, by check: BackgroundCheck, _ body: () throws -> T) throws -> T {
        sqlite3_progress_handler(db.sqliteConnection, 10_000, { context in
            guard let context else { return 0 }
            return Unmanaged<BackgroundCheck>.fromOpaque(context).takeUnretainedValue().hasFailed ? 1 : 0
        }, Unmanaged.passUnretained(check).toOpaque())
        defer { sqlite3_progress_handler(db.sqliteConnection, 0, nil, nil) }
        return try body()
    }

    /// The check, run on a thread of its own, its facts waited for once needed.
    typealias BackgroundCheck = BackgroundWork<JoinSnapshotFacts>

    /// Where this replica's feed came from, if it joined by snapshot.
    public func joinOrigin() throws -> JoinOrigin? {
        try pool.read { db in
            guard let data = Data.fromDatabaseValue(try db.meta(MetaKey.joinOriginReplica)), let replica = ReplicaID(bytes: data),
                  let seq = Int64.fromDatabaseValue(try db.meta(MetaKey.joinOriginSeq)), seq > 0 else { return nil }
            return JoinOrigin(replica: replica, seq: UInt64(seq))
        }
    }

    /// Sets the cursor for `peer` from its join origin when there is none yet
    /// (`JoinRules.initialCursor`); returns the cursor set, or nil.
    @discardableResult
    public func startCursor(for peer: ReplicaID, joinedFrom origin: JoinOrigin) throws -> UInt64? {
        let wall = options.wallClock()
        return try pool.write { db in
            guard try Int64.fetchOne(db, sql: "SELECT cursor FROM sync_cursors WHERE peer = ?", arguments: [peer.data]) == nil else { return nil }
            let own = try db.replicaID()
            let row = try Row.fetchOne(db, sql: "SELECT cursor, peer_highest FROM sync_cursors WHERE peer = ?", arguments: [origin.replica.data])
            let forOrigin = UInt64(max(0, (row?[0] as Int64?) ?? 0))
            let highestThen = (row?[1] as Int64?).map { UInt64(max(0, $0)) }
            let cursor = JoinRules.initialCursor(origin: origin, ownReplica: own, cursorForOrigin: forOrigin, originHighestThen: highestThen)
            guard cursor > 0, cursor <= UInt64(Int64.max) else { return nil }
            try db.execute(sql: "INSERT INTO sync_cursors(peer, cursor, updated_at) VALUES (?, ?, ?)", arguments: [peer.data, Int64(cursor), Int64(wall)])
            return cursor
        }
    }
}
