import Foundation
import GRDB
import Synchronization

/// Snapshots (replication-model §7): consistent copies of the database taken while the
/// daemon runs, verified by checksum and by re-reading every slot; restored
/// under a new replica id, or merged into another replica (sneakernet).
public enum Snapshots {
    public static let fileExtension = "syncsnap"

    /// A name for a snapshot taken now: `2026-11-22T21-00-00Z.syncsnap`.
    public static func defaultName(at date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date).replacingOccurrences(of: ":", with: "-") + "." + fileExtension
    }

    /// The time in a name `defaultName` made; nil for any other name.
    public static func dateOfDefaultName(_ name: String) -> Date? {
        let suffix = "." + fileExtension
        guard name.hasSuffix(suffix) else { return nil }
        let stem = name.dropLast(suffix.count)
        // Exactly the shape it makes (the parser below would take more).
        guard stem.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}(\.[0-9]{1,9})?Z/) != nil,
              let t = stem.firstIndex(of: "T") else { return nil }
        let text = String(stem[..<t]) + String(stem[t...]).replacingOccurrences(of: "-", with: ":")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// Copies `store` into `destination` with SQLite's online backup, in one
    /// step inside one read transaction (so the copy is the state at one
    /// instant, whatever writers do meanwhile; a stepwise backup would restart
    /// on every write by another process), then writes the manifest.
    @discardableResult
    public static func create(from store: Store, to destination: URL, progress: @escaping (Double) -> Void = { _ in }) throws -> SnapshotManifest {
        guard !FileManager.default.fileExists(atPath: destination.path) else { throw SnapshotError.exists(destination.path) }
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        let partial = destination.appendingPathExtension("partial")
        try? FileManager.default.removeItem(at: partial)
        do {
            let copy = try DatabaseQueue(path: partial.path)
            try store.pool.backup(to: copy, pagesPerStep: -1) { step in
                if step.totalPageCount > 0 { progress(Double(step.completedPageCount) / Double(step.totalPageCount)) }
            }
            try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            try copy.close()
            var manifest = try describe(partial, deviceID: try store.deviceID)
            manifest.file = destination.lastPathComponent
            // Manifest first (written atomically), then the rename: a full
            // disk or a crash leaves either no snapshot or a whole one with
            // its manifest, never a snapshot that cannot be verified.
            try manifest.write(beside: destination)
            guard rename(partial.path, destination.path) == 0 else {
                try? FileManager.default.removeItem(at: SnapshotManifest.url(for: destination))
                throw SnapshotError.exists(destination.path)
            }
            return manifest
        } catch {
            // The copy and whatever SQLite kept beside it (a journal when the
            // disk filled mid-copy).
            for suffix in ["", "-journal", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: partial.path + suffix) }
            throw error
        }
    }

    /// Reads the facts of a snapshot file (without changing it).
    static func describe(_ url: URL, deviceID: String?) throws -> SnapshotManifest {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: url.path, configuration: configuration)
        defer { try? queue.close() }
        let facts = try queue.read { db in
            (replica: try db.replicaID(),
             highest: UInt64(try Database.highestSeq(db)),
             schema: String.fromDatabaseValue(try db.meta(MetaKey.schemaHash)) ?? "",
             records: try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_records") ?? 0,
             slots: try Int.fetchOne(db, sql: "SELECT sum(slot_count) FROM sync_records") ?? 0)
        }
        let bytes = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        return SnapshotManifest(formatVersion: SnapshotManifest.currentFormat, file: url.lastPathComponent, replica: facts.replica.hex,
                                deviceID: deviceID, createdAt: Date(), highestSeq: facts.highest, schemaHash: facts.schema,
                                records: facts.records, slots: facts.slots, bytes: bytes, sha256: try SnapshotManifest.sha256(of: url))
    }

    /// Checks the checksum, SQLite's integrity check, and every record: its
    /// slots decode canonically and satisfy the invariant (every version
    /// covered by its context), every seq they carry has its change-feed entry, and every live
    /// version is in the history, or (format 5) its slot defers it, above
    /// the file's mark and not also in history; then the 256 bucket digests
    /// the file records are those its slots make (a restored replica whose
    /// digest is not its slots' would never be seen equal to a peer holding
    /// the same slots). Returns the problems found (empty when the snapshot
    /// is sound).
    /// `scratchParent`: where a format-1 snapshot's migrated copy is made
    /// (`withScratchCopy`).
    public static func verify(_ url: URL, scratchParent: URL = FileManager.default.temporaryDirectory,
                              progress: (Double) -> Void = { _ in }) throws -> [String] {
        try verify(url, against: try SnapshotManifest.load(for: url), scratchParent: scratchParent, progress: progress)
    }

    /// `verify` of `url` against `manifest`, read once by the caller.
    static func verify(_ url: URL, against manifest: SnapshotManifest, scratchParent: URL, progress: (Double) -> Void) throws -> [String] {
        var problems: [String] = []
        let sum = try SnapshotManifest.sha256(of: url)
        if sum != manifest.sha256 { problems.append("checksum mismatch: file \(sum.prefix(16))…, manifest \(manifest.sha256.prefix(16))…") }
        if manifest.formatVersion > SnapshotManifest.currentFormat { problems.append("manifest format \(manifest.formatVersion) is newer than this build") }
        return problems + (try verifyContents(of: url, replica: manifest.replica, scratchParent: scratchParent, progress: progress))
    }

    /// Runs `body` on a copy of the snapshot at `url`, made in a folder of
    /// its own under `parent` (`ScratchFolder`: named `label-UUID`, removed
    /// whole afterwards with whatever opening the copy made beside it,
    /// SQLite's companions, a counter mark; one a killed process left is
    /// swept by the next).
    static func withScratchCopy<T>(of url: URL, in parent: URL, label: String, _ body: (URL) throws -> T) throws -> T {
        try ScratchFolder.with(in: parent, label: label) { folder in
            let copy = folder.appendingPathComponent("snapshot.db")
            // The file's bytes, never a link to it (`copyItem` copies a link as
            // a link, and the copy is opened for writing).
            try FileManager.default.copyItem(at: url.resolvingSymlinksInPath(), to: copy)
            return try body(copy)
        }
    }

    /// The database checks of `verify`. A snapshot in the slot-row layout
    /// (format 1, made before record rows) is checked on a migrated scratch copy.
    /// `migrated`: `url` is the scratch copy the format-1 layout was moved
    /// on (a file that claims its migrations done yet still holds that
    /// layout is refused, not migrated again without end).
    private static func verifyContents(of url: URL, replica: String, scratchParent: URL, migrated: Bool = false,
                                       progress: (Double) -> Void) throws -> [String] {
        var problems: [String] = []
        var configuration = Configuration()
        configuration.readonly = true
        // Nothing the file declares (a view's or a trigger's SQL) runs functions here.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA trusted_schema = OFF") }
        let queue: DatabaseQueue
        do { queue = try DatabaseQueue(path: url.path, configuration: configuration) } catch {
            return ["not a readable SQLite database: \(error)"]
        }
        defer { try? queue.close() }
        if try queue.read({ db in try !db.holdsTable("sync_records") && db.holdsTable("sync_slots") }) {
            if migrated { return ["its format-1 layout did not move to record rows (its migrations are marked done)"] }
            return try withScratchCopy(of: url, in: scratchParent, label: "syncd-verify") { scratch in
                do {
                    // The file's triggers stay off while it is migrated, as on the store's connections.
                    var migration = Store.ownConnectionConfiguration()
                    migration.prepareDatabase { db in try db.execute(sql: "PRAGMA trusted_schema = OFF") }
                    let migrated = try DatabaseQueue(path: scratch.path, configuration: migration)
                    try StoreTables.migrator().migrate(migrated)
                    try migrated.close()
                } catch {
                    return ["cannot move the format-1 layout to record rows: \(error)"]
                }
                return try verifyContents(of: scratch, replica: replica, scratchParent: scratchParent, migrated: true, progress: progress)
            }
        }
        do {
            try queue.read { db in
                let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
                if integrity != ["ok"] { problems.append("integrity_check: " + integrity.prefix(5).joined(separator: "; ")); return }
                // Text as the store keeps it (SQLite would convert UTF-16,
                // mending what is not valid), and the tables read below are
                // tables, not views that read otherwise.
                let encoding = try String.fetchOne(db, sql: "PRAGMA encoding")
                guard encoding == "UTF-8" else { problems.append("its text encoding is \(encoding ?? "unknown"), not UTF-8"); return }
                problems += try Self.layoutProblems(db)
                if !problems.isEmpty { return }
                let total = max(1, try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_records") ?? 1)
                // Every seq a slot carries, with its record row: the feed must be exactly these.
                var carried: [(seq: Int64, record: Int64)] = []
                // No slot defers its history at or below the mark (none at all below format 5).
                let deferredSince = try db.deferredHistorySince()
                var checked = 0
                // The bucket digests the slots make (replication-model §4): a
                // file whose recorded digest is not its slots' would never be
                // seen equal to a peer holding the same slots.
                var buckets = [SlotHash](repeating: .zero, count: StateDigest.bucketCount)
                var scratch = BinaryWriter(capacity: 256)
                var cutShort = false
                let rows = try FastStatement(db, "SELECT id, collection, record, slots, slot_count FROM sync_records ORDER BY id")
                defer { rows.reset() }
                while try rows.step() {
                    checked += 1
                    if checked % 10_000 == 0 { progress(Double(checked) / Double(total)) }
                    if problems.count > 100 { cutShort = true; break }
                    // From the raw cells, by storage class (a snapshot is a file from anywhere).
                    let id: Int64, ref: RecordRef, slots: [FieldElement: StoredSlot]
                    switch CheckedRecordRow.read(rows, integerColumns: [4]) {
                    case .success(let row): (id, ref, slots) = row
                    case .failure(let problem):
                        problems.append(problem.description)
                        cutShort = true
                        continue
                    }
                    if rows.int(4) != Int64(slots.count) { problems.append("\(ref): slot count \(rows.int(4)), holds \(slots.count)") }
                    var live: [SlotKey: Set<Dot>] = [:]
                    var deferred: [FieldElement: Set<Dot>] = [:]
                    for (name, slot) in slots {
                        let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                        if !slot.state.satisfiesInvariant { problems.append("\(key): a version is not covered by its context") }
                        let (hash, bucket) = slot.recomputedHash(under: key, scratch: &scratch)
                        buckets[bucket] ^= hash
                        // A slot's first state is not in history until it changes (format 5).
                        if !slot.historyPending {
                            live[key] = Set(slot.state.versions.map(\.dot))
                        } else {
                            deferred[name] = Set(slot.state.versions.map(\.dot))
                            if slot.seq <= deferredSince { problems.append("\(key): history deferred at seq \(slot.seq), at or below the file's mark (or in a file below format 5)") }
                        }
                    }
                    for seq in RecordRowWriter.distinctSeqs(slots) { carried.append((seq, id)) }
                    var recorded = Set<Dot>()
                    for entries in try Data.fetchAll(db, sql: "SELECT entries FROM sync_history WHERE record_key = ? AND collection = ? AND record = ?",
                                                     arguments: [HistoryKey.of(ref), ref.collection, ref.id]) {
                        for entry in try HistoryEntries.decode([UInt8](entries)) {
                            recorded.insert(entry.version.dot)
                            // Readers add a deferred slot's versions to history: both would show it twice.
                            if deferred[FieldElement(field: entry.field, element: entry.element)]?.contains(entry.version.dot) == true {
                                problems.append("\(ref) \(entry.field) \(entry.element): a version both in history and in a slot whose history is deferred")
                            }
                        }
                    }
                    for (key, dots) in live where !dots.isSubset(of: recorded) {
                        problems.append("\(key): \(dots.subtracting(recorded).count) live version(s) missing from the history")
                    }
                }
                // One row per record, names compared as bytes (a file need not
                // carry the store's unique index).
                let repeated = try Int.fetchOne(db, sql: """
                    SELECT count(*) FROM (SELECT 1 FROM sync_records GROUP BY collection COLLATE BINARY, record COLLATE BINARY HAVING count(*) > 1)
                    """) ?? 0
                if repeated > 0 { problems.append("\(repeated) record(s) with more than one row"); cutShort = true }
                if !cutShort {
                    problems += try Self.feedProblems(db, carried: carried)
                    problems += try Self.digestProblems(db, recomputed: buckets)
                }
                if let own = try? db.replicaID(), own.hex != replica { problems.append("replica id differs from the manifest") }
            }
        } catch {
            problems.append("cannot read: \(error)")
        }
        progress(1)
        return problems
    }

    /// The store tables a snapshot is read from, and which the store
    /// writes once it is restored: declared exactly as this build declares
    /// them (so a bucket or an id is an integer key, names are unique by
    /// bytes, and a write lands where a read looks), with the unique index of
    /// record names; no trigger on them (it would fire on the store's first
    /// write, after verification), and no trigger but the store's own SQL-edit
    /// ones (`sync_sql_…`, docs/sql.md) anywhere. Its storage format is one
    /// this build opens.
    static func layoutProblems(_ db: Database) throws -> [String] {
        var problems = try storeTableProblems(db) + triggerProblems(db)
        // The SQL-edit queues as far as their columns: a restore declares them again.
        problems += try RestoredSQLEdits.layoutProblems(db)
        if let format = Int.fromDatabaseValue(try db.meta(MetaKey.format)), format > StoreTables.formatVersion {
            problems.append("its storage format is \(format); this build reads up to \(StoreTables.formatVersion)")
        }
        return problems
    }

    /// The part of `layoutProblems` about the store tables themselves, their
    /// declarations and indexes: where one differs, a write may land where a
    /// read does not look.
    static func storeTableProblems(_ db: Database) throws -> [String] {
        var problems: [String] = []
        let tables = storeTables
        let declared = Dictionary(try JoinSnapshotCheck.expectedDeclarations(), uniquingKeysWith: { first, _ in first })
        for table in tables {
            let found = try Row.fetchAll(db, sql: "SELECT type, sql FROM sqlite_master WHERE name = ?", arguments: [table])
            guard found.count == 1, String.fromDatabaseValue(found[0][0]) == "table", let sql = String.fromDatabaseValue(found[0][1]),
                  let expected = declared[table], Array(sql.utf8) == Array(expected.utf8) else {
                problems.append("its table \(table) is missing or not declared as this build declares it")
                continue
            }
        }
        // Exactly this build's indexes on them (a unique index of its own
        // would make the store's writes fail once restored).
        if try indexes(of: tables, in: db) != (try expectedIndexes()) {
            problems.append("the indexes of its store tables are not this build's (sync_records_by_name and the others, no more, no less)")
        }
        return problems
    }

    /// The part of `layoutProblems` about triggers: none on a store table,
    /// none anywhere but the store's own SQL-edit ones (`sync_sql_…`).
    static func triggerProblems(_ db: Database) throws -> [String] {
        var problems: [String] = []
        // Names compared as SQLite compares them (ASCII case folded; SQL's
        // lower() folds more where SQLite is built with ICU).
        for row in try Row.fetchAll(db, sql: "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'") {
            let name = SQLiteName.folded(String.fromDatabaseValue(row[0]) ?? "?"), table = SQLiteName.folded(String.fromDatabaseValue(row[1]) ?? "?")
            if table.hasPrefix("sync_") || !name.hasPrefix("sync_sql_") {
                problems.append("a trigger the store does not make: \(name) on \(table)")
            }
        }
        return problems
    }

    /// The indexes of `tables` in `db` (their names and declarations as
    /// bytes, `[]` for one SQLite makes itself), by name.
    static func indexes(of tables: [String], in db: Database) throws -> [[UInt8]] {
        let list = tables.map { "'\($0)'" }.joined(separator: ", ")
        return try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name COLLATE NOCASE IN (\(list)) ORDER BY name")
            .map { row in Array((String.fromDatabaseValue(row[0]) ?? "").utf8) + [0] + Array((String.fromDatabaseValue(row[1]) ?? "").utf8) }
    }

    /// The store tables `layoutProblems` holds to this build's declarations and indexes.
    static let storeTables = ["sync_meta", "sync_records", "sync_feed", "sync_history", "sync_buckets"]

    /// `indexes(of: storeTables, in:)` of a database the migrator made
    /// (cached once: the list is fixed).
    static func expectedIndexes() throws -> [[UInt8]] {
        try expected.withLock { cached in
            if let cached { return cached }
            let queue = try DatabaseQueue()
            try StoreTables.migrator().migrate(queue)
            let found = try queue.read { db in try indexes(of: storeTables, in: db) }
            cached = found
            return found
        }
    }
    private static let expected = Mutex<[[UInt8]]?>(nil)

    /// How the change feed differs from the seqs the slots carry (`carried`:
    /// each seq with its record row): one entry per seq, naming that row,
    /// and no other (a seq no slot carries would become the store's highest).
    static func feedProblems(_ db: Database, carried: [(seq: Int64, record: Int64)]) throws -> [String] {
        let expected = carried.sorted { $0.seq < $1.seq }
        let rows = try FastStatement(db, "SELECT seq, record_id FROM sync_feed ORDER BY seq")
        defer { rows.reset() }
        var index = 0
        while try rows.step() {
            guard rows.isInteger(0), rows.isInteger(1) else { return ["a change-feed row that is not two integers"] }
            let (seq, record) = (rows.int(0), rows.int(1))
            guard index < expected.count, expected[index].seq == seq, expected[index].record == record else {
                if index < expected.count, expected[index].seq < seq {
                    return ["seq \(expected[index].seq) of record row \(expected[index].record) has no change-feed entry for the record"]
                }
                return ["its change feed lists seq \(seq) for record row \(record), which no slot of that record carries"]
            }
            index += 1
        }
        if index < expected.count {
            return ["seq \(expected[index].seq) of record row \(expected[index].record) has no change-feed entry for the record"]
        }
        return []
    }

    /// How the bucket digests a snapshot records differ from those its
    /// slots make (`recomputed`), compared by bytes; empty when equal.
    static func digestProblems(_ db: Database, recomputed: [SlotHash]) throws -> [String] {
        let recorded = try RecordedBuckets.read(db)
        let malformed = recorded.stray.count + recorded.digests.filter { $0 == nil }.count
        var problems = [String](repeating: "a bucket digest row that is not a bucket number and 16 bytes", count: malformed)
        problems += recorded.doubled.map { "bucket \($0) has more than one digest row" }
        let differing = (0..<StateDigest.bucketCount).filter { (recorded.digests[$0] ?? .zero) != recomputed[$0] }
        if !differing.isEmpty {
            problems.append("the digest of bucket\(differing.count == 1 ? "" : "s") \(differing.prefix(5).map(String.init).joined(separator: ", "))\(differing.count > 5 ? " and \(differing.count - 5) more" : "") is not the one its slots make")
        }
        return problems
    }

    /// Verifies `copy`, a copy of the snapshot at `url` the caller made and
    /// alone writes, against `manifest`, read once before: the checksum, the
    /// contents and (by the caller, next) the dataset are all checked on the
    /// bytes that are then restored or merged, whatever happens to `url`
    /// meanwhile (replaced, written to, its manifest rewritten). Throws
    /// `failedVerification`, naming `url`, with every problem.
    static func requireVerified(copy: URL, of url: URL, manifest: SnapshotManifest, scratchParent: URL = FileManager.default.temporaryDirectory,
                                progress: (Double) -> Void = { _ in }) throws {
        let problems = try verify(copy, against: manifest, scratchParent: scratchParent, progress: progress)
        guard problems.isEmpty else { throw SnapshotError.failedVerification(url.path, problems) }
    }

    /// Merges everything a (verified) snapshot holds into `store`, as if
    /// synced from the snapshot's replica. Idempotent: merging it again
    /// changes nothing.
    /// The snapshot is copied into a folder of its own under
    /// `scratchParent`, and that copy is verified, checked for the dataset
    /// and merged (`requireVerified(copy:)`); the folder is removed whole
    /// afterwards with whatever opening the copy made beside it (its SQLite
    /// companions, its counter mark).
    public static func merge(_ url: URL, into store: Store, scratchParent: URL = FileManager.default.temporaryDirectory,
                             progress: (Int, Int) -> Void = { _, _ in }) throws -> ApplyReport {
        let manifest = try SnapshotManifest.load(for: url)
        return try withScratchCopy(of: url, in: scratchParent, label: "syncd-merge") { scratch in
            try requireVerified(copy: scratch, of: url, manifest: manifest, scratchParent: scratchParent)
            try requireDataset(of: scratch.path, named: store.seed.name)
            CrashPoint.hit("merge.copied")
            return try merge(copy: scratch, of: url, manifest: manifest, into: store, progress: progress)
        }
    }

    /// `merge` on its scratch copy.
    private static func merge(copy scratch: URL, of url: URL, manifest: SnapshotManifest, into store: Store, progress: (Int, Int) -> Void) throws -> ApplyReport {
        // The snapshot's replica as recorded in it: opening the scratch copy
        // gives the copy a new replica id (it is another file), and the
        // batches must be credited to the replica that wrote them.
        let replica = try DatabaseQueue(path: scratch.path).read { try $0.replicaID() }
        let source = try Store(path: scratch.path, schema: store.seed)
        guard replica != (try store.replicaID) else { throw SnapshotError.failedVerification(url.path, ["it is a snapshot of this very replica; use restore"]) }
        var total = ApplyReport()
        var cursor: UInt64 = 0
        while true {
            let batch = try source.changes(since: cursor, maxCount: 20_000, maxBytes: 32 << 20)
            let report = try store.apply(batch.changes, from: replica, cursor: nil)
            total.changed += report.changed
            total.unchanged += report.unchanged
            total.futureVersions += report.futureVersions
            total.schemaProblems += report.schemaProblems
            total.dotCollisions += report.dotCollisions
            if let renewed = report.renewedReplica { total.renewedReplica = renewed }
            cursor = batch.cursor
            progress(Int(cursor), Int(manifest.highestSeq))
            if !batch.hasMore { break }
        }
        return total
    }
}
