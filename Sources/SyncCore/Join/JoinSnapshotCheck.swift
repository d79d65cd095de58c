import Foundation
import GRDB
import Synchronization

/// What a checked join snapshot holds, for its adoption.
public struct JoinSnapshotFacts: Sendable {
    /// The replica the snapshot is of (the peer it came from).
    public let replica: ReplicaID
    /// Its highest seq when it was taken: the joiner's cursor for it.
    public let highestSeq: UInt64
    /// The digest recomputed from every slot (equal to the one it recorded).
    public let digest: StateDigest
    public let records: Int
    public let slots: Int
    /// The peer's cursors for other replicas (with the highest seq each
    /// replica had when read that far, if known), taken over by the joiner.
    public let cursors: [ReplicaID: (cursor: UInt64, peerHighest: UInt64?)]
    /// The hash of the schema its tables were made for.
    public let schemaHash: String
    /// The seq at or below which no slot of it defers its history (the mark
    /// it recorded, checked against every slot; its highest seq for a file
    /// below format 5): the joiner's `deferred_history_since`.
    public let deferredHistorySince: UInt64
}

/// A snapshot refused by the check, and why.
public struct JoinSnapshotRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "the snapshot was refused: \(reason)" }
}

/// Checks a received join snapshot before anything of it is used
/// (replication-model §4.6): SQLite's integrity check; the layout, the
/// dataset and the replica it claims; every slot decoded canonically,
/// within the receive limits, covered by its context, its hash recomputed
/// and equal to the stored one; the 256 bucket digests recomputed from those
/// hashes and equal to the stored ones; the change feed equal to the seqs the
/// slots carry; every collection table row equal to the row its record reads
/// as. The integrity check and the parts of the record pass run side by
/// side on their own connections. Reads only; the file is never changed.
public enum JoinSnapshotCheck {
    /// Cursors a snapshot may carry.
    public static let maxCursors = 100_000
    /// Problems named in a refusal.
    static let maxNamed = 3
    /// Parts of the record pass per core (contiguous id ranges).
    static let recordPartsPerCore = 4

    /// The header part of `verify` alone (layout, format, replica, dataset,
    /// the cell types and names of the rows store code reads first, schema,
    /// cursors): milliseconds, so a snapshot of another replica or a file
    /// that is not a store is refused before a byte is copied or kept aside.
    public static func verifyHeader(path: String, expectedReplica: ReplicaID, seed: Schema, limits: ReceiveLimits = ReceiveLimits()) throws {
        do {
            _ = try read(path) { db in try checkHeader(db, expectedReplica: expectedReplica, seed: seed, limits: limits) }
        } catch let refusal as JoinSnapshotRefusal { throw refusal } catch {
            throw JoinSnapshotRefusal("it cannot be read as the store's database: \(error)")
        }
    }

    public static func verify(path: String, expectedReplica: ReplicaID, seed: Schema, limits: ReceiveLimits = ReceiveLimits()) throws -> JoinSnapshotFacts {
        let header: (schema: Schema, schemaHash: String, cursors: [ReplicaID: (cursor: UInt64, peerHighest: UInt64?)])
        do {
            header = try read(path) { db in try checkHeader(db, expectedReplica: expectedReplica, seed: seed, limits: limits) }
        } catch let refusal as JoinSnapshotRefusal { throw refusal } catch {
            throw JoinSnapshotRefusal("it cannot be read as the store's database: \(error)")
        }
        // SQLite's integrity check beside the record pass, each part on its
        // own read-only connection. The integrity check is one pass that
        // cannot be cut, so it starts first and the records go in several
        // parts per core: the cores that are not busy with it take them up,
        // and none waits for another at the end.
        let bounds = try read(path) { db in
            (try Int64.fetchOne(db, sql: "SELECT min(id) FROM sync_records") ?? 1, try Int64.fetchOne(db, sql: "SELECT max(id) FROM sync_records") ?? 0)
        }
        guard bounds.0 >= 1 else { throw JoinSnapshotRefusal("a record row with id \(bounds.0) (ids start at 1)") }
        let parts = recordPartsPerCore * max(2, ProcessInfo.processInfo.activeProcessorCount)
        let ranges = bounds.1 >= bounds.0 ? Self.split(bounds.0...bounds.1, into: parts) : []
        let results = Results(parts: ranges.count)
        DispatchQueue.concurrentPerform(iterations: ranges.count + 1) { pass in
            do {
                if pass == 0 {
                    let integrity = try read(path) { db in try String.fetchAll(db, sql: "PRAGMA integrity_check(20)") }
                    if integrity != ["ok"] { results.fail("SQLite's integrity check: " + integrity.prefix(maxNamed).joined(separator: "; ")) }
                } else if results.failure == nil {
                    let part = try read(path) { db in try checkRecords(db, ids: ranges[pass - 1], schema: header.schema, limits: limits) }
                    results.set(part, at: pass - 1)
                }
            } catch let refusal as JoinSnapshotRefusal {
                results.fail(refusal.reason)
            } catch {
                results.fail("cannot be read: \(error)")
            }
        }
        if let reason = results.failure { throw JoinSnapshotRefusal(reason) }
        let slots = try read(path) { db in try checkTotals(db, parts: results.parts, schema: header.schema) }
        let since = try read(path) { db in try db.deferredHistorySince() }
        return JoinSnapshotFacts(replica: expectedReplica, highestSeq: slots.highest, digest: slots.digest, records: slots.records,
                                 slots: slots.count, cursors: header.cursors, schemaHash: header.schemaHash,
                                 deferredHistorySince: min(UInt64(since), slots.highest))
    }

    /// `range` cut into `parts` contiguous pieces (fewer when it is short),
    /// without overflowing at either end of Int64.
    static func split(_ range: ClosedRange<Int64>, into parts: Int) -> [ClosedRange<Int64>] {
        let width = UInt64(bitPattern: range.upperBound &- range.lowerBound)
        let size = width / UInt64(max(1, parts)) + 1
        var pieces: [ClosedRange<Int64>] = []
        var start = range.lowerBound
        while true {
            let (end, overflow) = start.addingReportingOverflow(Int64(clamping: size - 1))
            let last = overflow || end >= range.upperBound
            pieces.append(start...(last ? range.upperBound : end))
            if last { return pieces }
            start = end + 1
        }
    }

    /// The store tables a snapshot is read from, with this build's declarations
    /// (from `sqlite_master` of a database the migrator made).
    static func expectedDeclarations() throws -> [(String, String)] {
        try declarations.withLock { cached in
            if let cached { return cached }
            let queue = try DatabaseQueue()
            try StoreTables.migrator().migrate(queue)
            let names = ["sync_meta", "sync_records", "sync_feed", "sync_history", "sync_buckets", "sync_cursors", "sync_schema_problems"]
            let found = try queue.read { db in
                try names.map { name in (name, try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [name]) ?? "") }
            }
            cached = found
            return found
        }
    }
    private static let declarations = Mutex<[(String, String)]?>(nil)

    private final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var _failure: String?
        private var _parts: [RecordFacts?]
        init(parts: Int) { _parts = Array(repeating: nil, count: parts) }
        var failure: String? { lock.withLock { _failure } }
        var parts: [RecordFacts] { lock.withLock { _parts.compactMap { $0 } } }
        func set(_ part: RecordFacts, at index: Int) { lock.withLock { _parts[index] = part } }
        func fail(_ reason: String) { lock.withLock { if _failure == nil { _failure = reason } } }
    }

    /// What one part of the record pass found.
    struct RecordFacts {
        var buckets = [SlotHash](repeating: .zero, count: StateDigest.bucketCount)
        var seqs: [(seq: Int64, record: Int64)] = []
        var records = 0
        var slots = 0
        /// Records that exist, by collection's bytes (each must have exactly one table row).
        var existing: [UTF8Key: Int] = [:]
    }

    struct SlotFacts {
        var highest: UInt64
        var digest: StateDigest
        var records: Int
        var count: Int
    }

    private static func read<T>(_ path: String, _ body: (Database) throws -> T) throws -> T {
        var configuration = Configuration()
        configuration.readonly = true
        // Nothing the file declares (a view's or a trigger's SQL) runs functions here.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA trusted_schema = OFF") }
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read(body)
    }

    /// The layout, dataset, replica, schema and cursors.
    static func checkHeader(_ db: Database, expectedReplica: ReplicaID, seed: Schema, limits: ReceiveLimits) throws -> (schema: Schema, schemaHash: String, cursors: [ReplicaID: (cursor: UInt64, peerHighest: UInt64?)]) {
        // Text as the store keeps it: SQLite would hand UTF-16 text over
        // converted (mending lone surrogates), and the joiner's database
        // cannot attach a file of another encoding.
        let encoding = try String.fetchOne(db, sql: "PRAGMA encoding")
        guard encoding == "UTF-8" else { throw JoinSnapshotRefusal("its text encoding is \(encoding ?? "unknown"), not UTF-8") }
        // Every store table read here is a plain table declared exactly as
        // this build declares it (so ids and seqs are integers, rows are
        // what a read returns, and what the adoption copies is what was read).
        for (table, declaration) in try expectedDeclarations() {
            let found = try Row.fetchAll(db, sql: "SELECT type, sql FROM main.sqlite_master WHERE name = ?", arguments: [table])
            guard found.count == 1, (text(found[0], 0)) == "table", let sql = text(found[0], 1),
                  Array(sql.utf8) == Array(declaration.utf8) else {
                throw JoinSnapshotRefusal("its table \(table) is missing or not declared as this daemon's")
            }
        }
        let format = Int.fromDatabaseValue(try db.meta(MetaKey.format))
        guard let format, StoreTables.readableFormats.contains(format) else {
            throw JoinSnapshotRefusal("its storage format is \(format.map(String.init) ?? "missing"), this daemon reads \(StoreTables.readableFormats.lowerBound) to \(StoreTables.formatVersion)")
        }
        guard let replica = try? db.replicaID(), replica == expectedReplica else {
            throw JoinSnapshotRefusal("it is not a snapshot of the peer's replica \(expectedReplica.short)")
        }
        let dataset = String.fromDatabaseValue(try db.meta(MetaKey.dataset)) ?? SchemaLineage.shipped
        guard dataset.utf8.elementsEqual(seed.name.utf8) else {
            throw JoinSnapshotRefusal("it holds the dataset '\(SchemaLineage.display(dataset))', this daemon '\(SchemaLineage.display(seed.name))'")
        }
        // Cells of the types the store writes, before any store code reads them.
        let mistyped = try Int.fetchOne(db, sql: """
            SELECT count(*) FROM sync_records WHERE typeof(collection) <> 'text' OR typeof(record) <> 'text' OR typeof(slots) <> 'blob'
                OR typeof(slot_count) <> 'integer' OR typeof(conflicted) <> 'integer'
            """) ?? 0
        guard mistyped == 0 else { throw JoinSnapshotRefusal("\(mistyped) record row(s) with cells of other types than the store writes") }
        // The listed schema problems are copied as they are: cells of the
        // types the store writes, names that hold no NUL (readers of the
        // table would trap or misread otherwise).
        let mistypedProblems = try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_schema_problems WHERE \(SchemaProblemRows.mistyped)") ?? 0
        guard mistypedProblems == 0 else { throw JoinSnapshotRefusal("\(mistypedProblems) schema problem row(s) with cells of other types than the store writes") }
        // Names within the receive limit on a key part (the recheck reads them whole).
        let longNames = try Int.fetchOne(db, sql: """
            SELECT count(*) FROM sync_schema_problems WHERE max(length(CAST(collection AS BLOB)), length(CAST(record AS BLOB)),
                length(CAST(field AS BLOB)), length(CAST(element AS BLOB))) > ?
            """, arguments: [limits.maxKeyPartBytes]) ?? 0
        guard longNames == 0 else { throw JoinSnapshotRefusal("\(longNames) schema problem row(s) naming a slot past the limit on a name") }
        let effective = try SchemaEvolution.effective(seed: seed, in: db)
        for collection in effective.schema.tableCollections {
            let types = try String.fetchAll(db, sql: "SELECT type FROM main.sqlite_master WHERE name = ?", arguments: [collection.name])
            guard types == ["table"] else { throw JoinSnapshotRefusal("its collection table \(collection.name) is missing or not a table") }
        }
        let recorded = String.fromDatabaseValue(try db.meta(MetaKey.schemaHash)) ?? ""
        guard Array(recorded.utf8) == Array(effective.schema.hash.utf8) else {
            throw JoinSnapshotRefusal("its tables were made for schema \(recorded.prefix(12)), but its records define \(effective.schema.hash.prefix(12))")
        }
        var cursors: [ReplicaID: (cursor: UInt64, peerHighest: UInt64?)] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT peer, cursor, peer_highest FROM sync_cursors")
        while let row = try rows.next() {
            guard cursors.count < maxCursors else { throw JoinSnapshotRefusal("more than \(maxCursors) cursors") }
            guard let data = blob(row, 0), let peer = ReplicaID(bytes: data), let cursor = int(row, 1), cursor >= 0 else {
                throw JoinSnapshotRefusal("a cursor that is not a replica id and a seq")
            }
            let highest = int(row, 2)
            if !(row[2] as DatabaseValue).isNull, (highest ?? -1) < 0 { throw JoinSnapshotRefusal("a cursor's peer highest seq that is not a seq") }
            cursors[peer] = (UInt64(cursor), highest.map { UInt64($0) })
        }
        return (effective.schema, recorded, cursors)
    }

    /// The record rows with ids in `ids`, each decoded once: every slot
    /// canonical, within the limits, covered, its hash computed for the digest;
    /// the row's counts and flag; and the record's collection table row equal
    /// to the row the record reads as (or absent when it does not exist).
    static func checkRecords(_ db: Database, ids: ClosedRange<Int64>, schema: Schema, limits: ReceiveLimits) throws -> RecordFacts {
        var facts = RecordFacts()
        var scratch = BinaryWriter(capacity: 256)
        // Keyed by bytes: a name the file spells otherwise, even one Swift
        // takes for the same text, is no table of the schema.
        var lookups: [UTF8Key: FastStatement] = [:]
        // Flag bit 2 (deferred history) exists from format 5 on: in an older
        // file a slot with it would show its versions twice once adopted.
        // Nor may a slot defer at or below the file's mark, which the joiner
        // takes over: readers would not look for it there.
        let format = Int.fromDatabaseValue(try db.meta(MetaKey.format))
        let deferredHistory = (format ?? 0) >= 5
        let deferredSince = try db.deferredHistorySince()
        let tables = Dictionary(schema.tableCollections.map { (UTF8Key($0.name), $0) }, uniquingKeysWith: { first, _ in first })
        // Read through the C API: names taken from their bytes (GRDB reads
        // text up to a NUL and mends invalid UTF-8), cells of another storage
        // class refused, not converted.
        let rows = try FastStatement(db, "SELECT id, collection, record, slots, slot_count, conflicted FROM sync_records WHERE id BETWEEN ? AND ? ORDER BY id")
        rows.bind(1, ids.lowerBound)
        rows.bind(2, ids.upperBound)
        defer { rows.reset() }
        while try rows.step() {
            let id: Int64, ref: RecordRef, slots: [FieldElement: StoredSlot]
            switch CheckedRecordRow.read(rows) {
            case .success(let row): (id, ref, slots) = row
            case .failure(let problem): throw JoinSnapshotRefusal(problem.description)
            }
            let (collection, record) = (ref.collection, ref.id)
            var rowSeqs: Set<Int64> = []
            for (name, slot) in slots {
                let key = SlotKey(collection: collection, record: record, field: name.field, element: name.element)
                if slot.historyPending, !deferredHistory {
                    throw JoinSnapshotRefusal("\(key): a slot whose history is deferred (storage format 5) in a file of format \(format.map(String.init) ?? "missing")")
                }
                if slot.historyPending, slot.seq <= deferredSince {
                    throw JoinSnapshotRefusal("\(key): a slot whose history is deferred at seq \(slot.seq), at or below the file's mark \(deferredSince) (deferred_history_since)")
                }
                if let refusal = ReceivedStateCheck.refusal(for: SlotChange(key: key, state: slot.state), limits: limits) {
                    throw JoinSnapshotRefusal("\(key): \(refusal)")
                }
                guard slot.state.satisfiesInvariant else { throw JoinSnapshotRefusal("\(key): a version is not covered by its context") }
                // The file's rows keep no hash (format 6; an older row's is
                // skipped unread): the digest is made from the states alone.
                let (hash, bucket) = slot.recomputedHash(under: key, scratch: &scratch)
                facts.buckets[bucket] ^= hash
                guard slot.seq > 0 else { throw JoinSnapshotRefusal("\(key): seq 0") }
                rowSeqs.insert(slot.seq)
            }
            guard rows.isInteger(4), rows.int(4) == Int64(slots.count) else {
                throw JoinSnapshotRefusal("\(ref): slot count \(rows.isInteger(4) ? rows.int(4) : -1), holds \(slots.count)")
            }
            for seq in rowSeqs { facts.seqs.append((seq, id)) }
            facts.records += 1
            facts.slots += slots.count
            // The record's table row, read as the readers read it (its
            // conflicted column is the row's flag, counted the same way).
            let table = tables[UTF8Key(collection)]
            let expected = table.map { ViewRow($0, slots: slots) }
            let conflicted = expected?.conflicted ?? StoredRecord.isConflicted(slots)
            guard rows.isInteger(5), rows.int(5) == (conflicted ? 1 : 0) else { throw JoinSnapshotRefusal("\(ref): its conflicted flag is wrong") }
            if let table, let expected {
                let lookup: FastStatement
                if let cached = lookups[UTF8Key(table.name)] { lookup = cached } else {
                    let columns = (["id"] + table.fields.map(\.name) + ["conflicted"]).map(\.quotedDatabaseIdentifier).joined(separator: ", ")
                    lookup = try FastStatement(db, "SELECT \(columns) FROM \(table.name.quotedDatabaseIdentifier) WHERE id = ?")
                    lookups[UTF8Key(table.name)] = lookup
                }
                lookup.bind(1, record)
                defer { lookup.reset() }
                // Compared through the C API, as bytes (GRDB reads text up to a NUL).
                switch (expected.exists, try lookup.step()) {
                case (false, false): break
                case (false, true): throw JoinSnapshotRefusal("\(ref): a collection table row for a record that does not exist")
                case (true, false): throw JoinSnapshotRefusal("\(ref): its collection table row is missing")
                case (true, true):
                    let differing = Store.differingColumns(lookup, expected: expected, table)
                    guard differing.isEmpty else { throw JoinSnapshotRefusal("\(ref): its collection table row differs in \(differing.joined(separator: ", "))") }
                    facts.existing[UTF8Key(table.name), default: 0] += 1
                }
            }
        }
        return facts
    }

    /// The parts together: the feed lists exactly the seqs the slots carry,
    /// the stored bucket digests are the ones the slots make, and each
    /// collection table holds no row besides those of existing records.
    static func checkTotals(_ db: Database, parts: [RecordFacts], schema: Schema) throws -> SlotFacts {
        var buckets = [SlotHash](repeating: .zero, count: StateDigest.bucketCount)
        var seqs: [(seq: Int64, record: Int64)] = []
        var records = 0, count = 0
        var existing: [UTF8Key: Int] = [:]
        for part in parts {
            for bucket in 0..<StateDigest.bucketCount { buckets[bucket] ^= part.buckets[bucket] }
            seqs += part.seqs
            records += part.records
            count += part.slots
            existing.merge(part.existing, uniquingKeysWith: +)
        }
        guard try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_records") == records else {
            throw JoinSnapshotRefusal("it holds record rows the check did not read")
        }
        for table in schema.tableCollections {
            let rows = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.name.quotedDatabaseIdentifier)") ?? 0
            guard rows == existing[UTF8Key(table.name), default: 0] else {
                throw JoinSnapshotRefusal("table \(table.name) holds \(rows) rows for \(existing[UTF8Key(table.name), default: 0]) records")
            }
        }
        seqs.sort { $0.seq < $1.seq }
        var index = 0
        var highest: Int64 = 0
        let feed = try Row.fetchCursor(db, sql: "SELECT seq, record_id FROM sync_feed ORDER BY seq")
        while let row = try feed.next() {
            guard let seq = int(row, 0), let record = int(row, 1) else { throw JoinSnapshotRefusal("a change feed row that is not two integers") }
            guard index < seqs.count, seqs[index].seq == seq, seqs[index].record == record else {
                throw JoinSnapshotRefusal("its change feed lists seq \(seq) for record row \(record), which no slot of that record carries")
            }
            highest = seq
            index += 1
        }
        guard index == seqs.count else {
            throw JoinSnapshotRefusal("seq \(seqs[index].seq) of record row \(seqs[index].record) is missing from its change feed (or carried by two records)")
        }
        let recorded = try RecordedBuckets.read(db)
        guard recorded.isWellFormed else { throw JoinSnapshotRefusal("a bucket digest row that is not a bucket and 16 bytes") }
        for bucket in 0..<StateDigest.bucketCount where recorded.digests[bucket] != buckets[bucket] {
            throw JoinSnapshotRefusal("the digest of bucket \(bucket) is not the one its slots make")
        }
        try checkHistory(db, highest: highest)
        // Listed problems are taken over as they are and rechecked inside the
        // adoption's transaction; an honest store lists at most one per slot.
        let problems = try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_schema_problems") ?? 0
        guard problems <= count else { throw JoinSnapshotRefusal("\(problems) listed schema problems for \(count) slots") }
        let digest = StateDigest(buckets: buckets.map { hash in hash.withUnsafeBytes { [UInt8]($0) } })
        return SlotFacts(highest: UInt64(highest), digest: digest, records: records, count: count)
    }

    /// The history rows are taken as they are (what the peer applied: no
    /// replica can check a superseded version it never held), but each must
    /// be one a store writes: names, a seq within the feed, entries that
    /// decode with seqs within it, and the record key of its names; and no
    /// entry may be a live version of a slot whose history is deferred
    /// (format 5: readers would show it twice).
    static func checkHistory(_ db: Database, highest: Int64) throws {
        let deferred = (Int.fromDatabaseValue(try db.meta(MetaKey.format)) ?? 0) >= 5
        let recordSlots = try db.makeStatement(sql: "SELECT slots FROM sync_records WHERE collection = ? AND record = ?")
        // By record key, so a record's rows come together and its row is
        // decoded once however many history rows name it.
        var last: (ref: RecordRef, slots: [FieldElement: StoredSlot])?
        let rows = try Row.fetchCursor(db, sql: "SELECT record_key, collection, record, seq, entries FROM sync_history ORDER BY record_key")
        while let row = try rows.next() {
            guard let key = int(row, 0), let collection = text(row, 1), let record = text(row, 2),
                  let seq = int(row, 3), let blob = blob(row, 4), (1...max(1, highest)).contains(seq) else {
                throw JoinSnapshotRefusal("a history row that is not a record's names, a seq within the feed and entries")
            }
            let ref = RecordRef(collection: collection, id: record)
            guard key == HistoryKey.of(ref) else { throw JoinSnapshotRefusal("\(ref): a history row under another record's key") }
            guard let entries = try? HistoryEntries.decode([UInt8](blob)),
                  entries.allSatisfy({ $0.seq >= 1 && $0.seq <= UInt64(max(1, highest)) }) else {
                throw JoinSnapshotRefusal("\(ref): history entries that do not decode, or name seqs outside the feed")
            }
            guard deferred else { continue }
            if last.map({ UTF8Identity.equal($0.ref.collection, collection) && UTF8Identity.equal($0.ref.id, record) }) != true {
                // Every record row decoded in checkRecords; a missing one has no slots.
                let blob = try Data.fetchOne(recordSlots, arguments: [collection, record])
                last = (ref, try blob.map { blob in
                    do { return try StoredRecord.decode([UInt8](blob), ref: ref) } catch { throw JoinSnapshotRefusal("\(error)") }
                } ?? [:])
            }
            let slots = last?.slots ?? [:]
            for entry in entries {
                guard let slot = slots[FieldElement(field: entry.field, element: entry.element)], slot.historyPending else { continue }
                if slot.state.versions.contains(where: { $0.dot == entry.version.dot }) {
                    throw JoinSnapshotRefusal("\(ref): a version both in history and in a slot whose history is deferred")
                }
            }
        }
    }

    // Cells read as stored, never forced: a cell of another type (text in an
    // integer column; SQLite's affinity allows it) reads as nil, not a trap.
    static func int(_ row: Row, _ index: Int) -> Int64? {
        let value: DatabaseValue = row[index]
        if case .int64(let number) = value.storage { return number }
        return nil
    }

    static func text(_ row: Row, _ index: Int) -> String? {
        let value: DatabaseValue = row[index]
        if case .string(let string) = value.storage { return string }
        return nil
    }

    static func blob(_ row: Row, _ index: Int) -> Data? {
        let value: DatabaseValue = row[index]
        if case .blob(let data) = value.storage { return data }
        return nil
    }
}
