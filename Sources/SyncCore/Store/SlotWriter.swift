import Foundation
import GRDB

/// Writes changed slot states inside one database transaction.
///
/// Shared by local writes and remote merges: stamps a fresh seq on every slot
/// whose state changes (never on a no-op), appends new versions to history
/// (a slot's first state defers them: docs/architecture.md "History"),
/// keeps bucket digests current, and at the end writes each touched record's
/// row (with its feed entries) and its per-collection view row.
///
/// The slots of a record that one transaction changes share one seq (a new
/// one after every `groupLimit` slots, so a feed entry stays small), which
/// makes a record one row and one feed entry per transaction. Records are
/// read once per transaction and kept, which also serves the view refresh.
final class SlotWriter {
    /// At most this many slots of a record share a seq in one transaction.
    static let groupLimit = 1_000

    /// One record as this transaction sees it, and what it wrote.
    final class Entry {
        var id: Int64?
        var slots: [FieldElement: StoredSlot]
        /// Seqs carried before this transaction (their feed entries exist).
        let previousSeqs: [Int64]
        /// The seq this transaction stamps on the record's slots, and how many carry it.
        var seq: Int64?
        var seqUses = 0
        var history: HistoryEntries?
        var touched = false

        /// Whether the record had a stored row before this transaction.
        let wasStored: Bool

        init(id: Int64?, slots: [FieldElement: StoredSlot]) {
            self.id = id
            wasStored = id != nil
            self.slots = slots
            previousSeqs = RecordRowWriter.distinctSeqs(slots)
        }
    }

    let db: Database
    /// The schema this transaction validates against; replaced in `finish`
    /// when the transaction changed `_schema`.
    private(set) var schema: Schema
    private let store: Store
    private var seq: Int64
    /// XOR of old and new hashes per bucket, applied to `sync_buckets` at the end.
    private var bucketDeltas = [SlotHash](repeating: .zero, count: StateDigest.bucketCount)
    private var bucketsTouched = [Bool](repeating: false, count: StateDigest.bucketCount)
    private var records: [RecordRef: Entry] = [:]
    /// The record used last: a batch holds a record's slots together, so most
    /// lookups are answered by one string comparison instead of a hash.
    private var last: (ref: RecordRef, entry: Entry)?
    private var touched: [(ref: RecordRef, entry: Entry)] = []
    /// Encoded key and state of the slot being stored, reused slot after slot.
    private var scratch = BinaryWriter(capacity: 512)
    private(set) var slotsChanged = 0
    /// Prepared once per transaction: looking a statement up by its SQL text
    /// hashes the text, which on this path cost more than SQLite's own work.
    private var selectRecord: FastStatement?
    private let rows: RecordRowWriter
    private let viewStatements: CollectionViews.Statements

    /// A writer for one transaction of `store`. When another process
    /// changed the schema since this store last looked (the hash in
    /// `sync_meta` differs), the schema is read again first, so no row is
    /// written with the columns of an older one.
    init(db: Database, store: Store) throws {
        self.db = db
        self.store = store
        var effective = store.current.effective
        let recorded = String.fromDatabaseValue(try db.meta(MetaKey.schemaHash))
        if recorded != effective.schema.hash {
            effective = try SchemaEvolution.effective(seed: store.seed, in: db)
            if recorded != effective.schema.hash { KeptColumns.log(try Store.adopt(effective, in: db), logger: store.options.logger, path: store.path, in: db) }
            Self.takeUp(effective, store: store, in: db)
        }
        schema = effective.schema
        seq = try Database.highestSeq(db)
        rows = RecordRowWriter(db: db)
        viewStatements = CollectionViews.Statements(db: db)
    }

    /// The record's entry: its stored row, read once per transaction.
    private func entry(_ ref: RecordRef) throws -> Entry {
        if let last, last.ref == ref { return last.entry }
        if let cached = records[ref] {
            last = (ref, cached)
            return cached
        }
        let select = try FastStatement.prepared(&selectRecord, db, "SELECT id, slots FROM sync_records WHERE collection = ? AND record = ?")
        select.bind(1, ref.collection)
        select.bind(2, ref.id)
        defer { select.reset() }
        let entry = try select.step()
            ? Entry(id: select.int(0), slots: try StoredRecord.decode(select.blob(1), ref: ref))
            : Entry(id: nil, slots: [:])
        records[ref] = entry
        last = (ref, entry)
        return entry
    }

    /// What a reader sees of a record now (this transaction's writes
    /// included); nil when no slot of it exists. Served from the cache.
    func view(of ref: RecordRef) throws -> RecordView? {
        RecordView(ref, try entry(ref).slots)
    }

    /// The stored state of a slot; the empty state when absent.
    func load(_ key: SlotKey) throws -> SlotState {
        try loadEncoded(key).state
    }

    /// The stored state of a slot and its canonical encoding (nil when
    /// absent): two loads of one slot read the same state when these bytes
    /// are equal.
    func loadEncoded(_ key: SlotKey) throws -> (state: SlotState, encoded: ArraySlice<UInt8>?) {
        let stored = try entry(key.recordRef).slots[FieldElement(field: key.field, element: key.element)]
        return (stored?.state ?? .empty, stored?.encoded)
    }

    /// Stores `state` as the slot's new state, stamped with the record's seq
    /// for this transaction.
    ///
    /// The bucket digest loses the hash of the state it replaces (recomputed
    /// from that state's bytes: rows keep no hash since format 6) and gains
    /// the new one's.
    ///
    /// - Parameters:
    ///   - newVersions: versions this replica had never seen, appended to history.
    ///   - echo: the peer whose state equals this one exactly, so the feed does not send it back.
    ///   - origin: where another replica's feed had this state exactly (§4.7); nil: ours.
    func store(_ key: SlotKey, state: SlotState, newVersions: [Version], echo: ReplicaID?, origin: FeedOrigin? = nil) throws {
        try store(key, state: state, encoded: EncodedSlot(key, state, scratch: &scratch),
                  newVersions: newVersions, echo: echo, origin: origin)
    }

    /// Stores a state already encoded and hashed (see `BatchMerge`).
    func store(_ key: SlotKey, state: SlotState, encoded: EncodedSlot, newVersions: [Version], echo: ReplicaID?,
               origin: FeedOrigin? = nil) throws {
        let ref = key.recordRef
        let entry = try entry(ref)
        if entry.seq == nil || entry.seqUses == Self.groupLimit {
            seq += 1
            entry.seq = seq
            entry.seqUses = 0
        }
        let slotSeq = entry.seq!
        entry.seqUses += 1
        let name = FieldElement(field: key.field, element: key.element)
        let previous = entry.slots[name]
        bucketDeltas[encoded.bucket] ^= encoded.hash
        if let previous { bucketDeltas[encoded.bucket] ^= previous.recomputedHash(under: key, scratch: &scratch).hash }
        bucketsTouched[encoded.bucket] = true

        // History (docs/architecture.md "History"): a slot's first state
        // keeps its versions out of history (an import, a join, a first
        // pull write none); they go there, with the seq they were applied
        // at, when the slot next changes. Versions new to a slot that had a
        // state go at once, as before format 5.
        var pending = false
        if let previous {
            if previous.historyPending, !previous.state.versions.isEmpty {
                appendHistory(entry, name, previous.state.versions, seq: previous.seq)
            }
            if !newVersions.isEmpty { appendHistory(entry, name, newVersions, seq: slotSeq) }
        } else if store.options.deferFirstHistory, Self.sameVersions(newVersions, state.versions) {
            pending = !state.versions.isEmpty
        } else if !newVersions.isEmpty {
            appendHistory(entry, name, newVersions, seq: slotSeq)
        }
        entry.slots[name] = StoredSlot(seq: slotSeq, echo: echo, origin: origin, historyPending: pending,
                                       encoded: ArraySlice(encoded.state), state: state)
        if !entry.touched {
            entry.touched = true
            touched.append((ref, entry))
        }
        slotsChanged += 1
    }

    private func appendHistory(_ entry: Entry, _ name: FieldElement, _ versions: [Version], seq: Int64) {
        if entry.history == nil { entry.history = HistoryEntries() }
        entry.history!.append(field: name.field, element: name.element, versions: versions, seq: seq)
    }

    /// Whether the versions new to an empty slot are exactly its live
    /// versions (always, for a local write or a merge into nothing; anything
    /// else goes to history at once).
    static func sameVersions(_ new: [Version], _ live: [Version]) -> Bool {
        new.count == live.count && new.allSatisfy { live.contains($0) }
    }

    /// The store's schema becomes `effective` when this transaction commits
    /// (a rolled-back one leaves it as it was); newly withheld definitions are logged.
    private static func takeUp(_ effective: SchemaEvolution.Effective, store: Store, in db: Database) {
        db.afterNextTransaction(onCommit: { _ in
            let before = Set(store.current.effective.problems.map(\.description))
            store.current.replace(effective)
            for problem in effective.problems where !before.contains(problem.description) {
                store.options.logger.warning("a schema definition is withheld", metadata: ["path": "\(store.path)", "problem": "\(problem)"])
            }
        })
    }

    /// Writes bucket digests, record rows, history and view rows; call once,
    /// before the transaction commits.
    ///
    /// - Parameter rowsMayBeRefused: a received batch: a collection-table
    ///   row that a constraint of the analyst's refuses is left as it was and
    ///   returned, and the rest goes on (`RefusedRows`). A local write fails
    ///   whole instead, so the analyst learns at once what refuses it.
    @discardableResult
    func finish(rowsMayBeRefused: Bool = false) throws -> RefusedRows {
        // A batch of a few thousand slots touches most of the 256 buckets.
        let readBucket = try FastStatement(db, "SELECT digest FROM sync_buckets WHERE bucket = ?")
        let writeBucket = try FastStatement(db, "INSERT OR REPLACE INTO sync_buckets(bucket, digest) VALUES (?, ?)")
        for bucket in 0..<StateDigest.bucketCount where bucketsTouched[bucket] {
            readBucket.bind(1, Int64(bucket))
            var digest = try readBucket.step() ? readBucket.withBlob(0) { SlotHash(stored: $0) } ?? .zero : .zero
            readBucket.reset()
            digest ^= bucketDeltas[bucket]
            writeBucket.bind(1, Int64(bucket))
            digest.withUnsafeBytes { writeBucket.bind(2, blob: $0) }
            try writeBucket.execute()
            bucketDeltas[bucket] = .zero
            bucketsTouched[bucket] = false
        }
        for (ref, entry) in touched {
            entry.id = try rows.write(ref, id: entry.id, slots: entry.slots, previousSeqs: entry.previousSeqs)
        }
        // A row's seq is the highest its record took in this transaction
        // (a record given more than `groupLimit` slots takes several), and
        // rows go in in that order: so rows read by rowid come in seq order
        // and no entry is above its row (HistoryEntries, recentChanges).
        let insert = try FastStatement(db, "INSERT INTO sync_history(record_key, collection, record, seq, entries) VALUES (?, ?, ?, ?, ?)")
        for (ref, entry) in touched.sorted(by: { ($0.entry.seq ?? 0) < ($1.entry.seq ?? 0) }) {
            guard let history = entry.history, let rowSeq = entry.seq else { continue }
            insert.bind(1, HistoryKey.of(ref))
            insert.bind(2, ref.collection)
            insert.bind(3, ref.id)
            insert.bind(4, rowSeq)
            insert.bind(5, blob: history.writer.bytes)
            try insert.execute()
            entry.history = nil
        }
        if touched.contains(where: { $0.ref.collection == SchemaEvolution.collection }) {
            // A schema change and the data that uses it may come in either
            // order: the new columns are filled from slots already stored.
            let effective = try SchemaEvolution.effective(seed: store.seed, in: db)
            if effective.schema.hash != schema.hash {
                KeptColumns.log(try Store.adopt(effective, in: db), logger: store.options.logger, path: store.path, in: db)
                schema = effective.schema
            }
            // Also when only what is withheld changed: it is reported.
            Self.takeUp(effective, store: store, in: db)
        }
        let views = CollectionViews(schema: schema)
        var refused = RefusedRows()
        for (ref, entry) in touched {
            guard rowsMayBeRefused else {
                try views.write(ref, slots: entry.slots, in: db, statements: viewStatements, new: !entry.wasStored)
                continue
            }
            // (A closure passed straight on, not kept: nothing allocated per record.)
            if let reason = try CollectionViews.unlessRefused(in: db, {
                try views.write(ref, slots: entry.slots, in: self.db, statements: self.viewStatements, new: !entry.wasStored)
            }) { refused.append(ref, reason: reason) }
        }
        return refused
    }
}

/// The integer that indexes a record's history: FNV-1a of `collection NUL id`.
/// A short index key keeps history inserts cheap; readers re-check the names.
enum HistoryKey {
    static func of(_ ref: RecordRef) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in ref.collection.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        hash = (hash ^ 0) &* 0x0000_0100_0000_01B3
        for byte in ref.id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return Int64(bitPattern: hash)
    }
}
