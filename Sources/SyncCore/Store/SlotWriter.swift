import Foundation
import GRDB

/// Writes changed slot states inside one database transaction.
///
/// Shared by local writes and remote merges: stamps a fresh seq on every slot
/// whose state changes (never on a no-op), appends new versions to history,
/// keeps bucket digests and the conflict flag current, and at the end
/// rewrites the per-collection view rows of the records it touched.
///
/// Slots are read a whole record at a time and kept for the transaction, so a
/// batch costs one range read per record, which also serves the view refresh.
final class SlotWriter {
    struct Stored {
        var state: SlotState
        var hash: SlotHash?
    }

    struct FieldElement: Hashable {
        let field: String
        let element: String
    }

    /// One record's slots as this transaction sees them, and what it wrote.
    final class Entry {
        var slots: [FieldElement: Stored]
        var history: HistoryEntries?
        var touched = false

        init(slots: [FieldElement: Stored]) { self.slots = slots }
    }

    let db: Database
    let schema: Schema
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
    private var selectSlots: FastStatement?
    private var insertSlot: FastStatement?
    private var updateSlot: FastStatement?
    private let viewStatements: CollectionViews.Statements

    init(db: Database, schema: Schema) throws {
        self.db = db
        self.schema = schema
        seq = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM sync_slots")) ?? 0
        viewStatements = CollectionViews.Statements(db: db)
    }

    private func prepared(_ statement: inout FastStatement?, _ sql: String) throws -> FastStatement {
        if let statement { return statement }
        let new = try FastStatement(db, sql)
        statement = new
        return new
    }

    /// The record's entry: every stored slot of it, read once per transaction.
    private func entry(_ ref: RecordRef) throws -> Entry {
        if let last, last.ref == ref { return last.entry }
        if let cached = records[ref] {
            last = (ref, cached)
            return cached
        }
        let select = try prepared(&selectSlots, "SELECT field, element, state, hash FROM sync_slots WHERE collection = ? AND record = ?")
        select.bind(1, ref.collection)
        select.bind(2, ref.id)
        var slots: [FieldElement: Stored] = [:]
        defer { select.reset() }
        while try select.step() {
            let key = FieldElement(field: select.text(0), element: select.text(1))
            let slotKey = SlotKey(collection: ref.collection, record: ref.id, field: key.field, element: key.element)
            slots[key] = Stored(state: try SlotState.stored(select.blob(2), key: slotKey),
                                hash: select.withBlob(3) { SlotHash(stored: $0) })
        }
        let entry = Entry(slots: slots)
        records[ref] = entry
        last = (ref, entry)
        return entry
    }

    /// What a reader sees of a record now (this transaction's writes
    /// included); nil when no slot of it exists. Served from the cache.
    func view(of ref: RecordRef) throws -> RecordView? {
        Self.view(ref, try entry(ref).slots)
    }

    private static func view(_ ref: RecordRef, _ slots: [FieldElement: Stored]) -> RecordView? {
        guard !slots.isEmpty else { return nil }
        return RecordView(ref: ref, slots: slots.map { (field: $0.key.field, element: $0.key.element, state: $0.value.state) })
    }

    /// The stored state of a slot and its hash; the empty state when absent.
    func load(_ key: SlotKey) throws -> (state: SlotState, hash: SlotHash?) {
        let stored = try entry(key.recordRef).slots[FieldElement(field: key.field, element: key.element)]
        return (stored?.state ?? .empty, stored?.hash)
    }

    /// Stores `state` as the slot's new state with a fresh seq.
    ///
    /// - Parameters:
    ///   - previousHash: the hash of the state it replaces (nil if new), for the bucket digest.
    ///   - newVersions: versions this replica had never seen, appended to history.
    ///   - echo: the peer whose state equals this one exactly, so the feed does not send it back.
    func store(_ key: SlotKey, state: SlotState, previousHash: SlotHash?, newVersions: [Version], echo: ReplicaID?) throws {
        seq += 1
        let ref = key.recordRef
        let entry = try entry(ref)
        let fieldElement = FieldElement(field: key.field, element: key.element)
        // The cache knows whether the row exists: a plain insert or update
        // costs SQLite one seek less than an upsert.
        let exists = entry.slots[fieldElement] != nil
        let statement = exists
            ? try prepared(&updateSlot, """
                UPDATE sync_slots SET state = ?5, seq = ?6, hash = ?7, conflicted = ?9, echo = ?10
                WHERE collection = ?1 AND record = ?2 AND field = ?3 AND element = ?4
                """)
            : try prepared(&insertSlot, """
                INSERT INTO sync_slots(collection, record, field, element, state, seq, hash, bucket, conflicted, echo)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                """)
        scratch.removeAll()
        SlotStateCodec.encode(key, into: &scratch)
        let keyCount = scratch.bytes.count
        SlotStateCodec.encode(state, into: &scratch)
        let (hash, bucket) = scratch.bytes.withUnsafeBytes { encoded in
            statement.bind(5, blob: UnsafeRawBufferPointer(rebasing: encoded[keyCount...]))
            return (SlotHash(ofKeyAndState: encoded),
                    StateDigest.bucket(forKeyBytes: UnsafeRawBufferPointer(rebasing: encoded[..<keyCount])))
        }
        let conflicted = key.element.isEmpty && SlotReader.scalar(state).isConflicted
        statement.bind(1, key.collection)
        statement.bind(2, key.record)
        statement.bind(3, key.field)
        statement.bind(4, key.element)
        statement.bind(6, seq)
        hash.withUnsafeBytes { statement.bind(7, blob: $0) }
        if !exists { statement.bind(8, Int64(bucket)) }
        statement.bind(9, conflicted ? 1 : 0)
        if let echo { statement.bind(10, blob: echo.bytes) } else { statement.bindNull(10) }
        try statement.execute()

        bucketDeltas[bucket] ^= hash
        if let previousHash { bucketDeltas[bucket] ^= previousHash }
        bucketsTouched[bucket] = true

        if !newVersions.isEmpty {
            if entry.history == nil { entry.history = HistoryEntries() }
            entry.history!.append(field: key.field, element: key.element, versions: newVersions, seq: seq)
        }
        entry.slots[fieldElement] = Stored(state: state, hash: hash)
        if !entry.touched {
            entry.touched = true
            touched.append((ref, entry))
        }
        slotsChanged += 1
    }

    /// Writes bucket digests and view rows; call once, before the transaction commits.
    func finish() throws {
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
        let insert = try FastStatement(db, "INSERT INTO sync_history(record_key, collection, record, seq, entries) VALUES (?, ?, ?, ?, ?)")
        for (ref, entry) in touched {
            guard let history = entry.history else { continue }
            insert.bind(1, HistoryKey.of(ref))
            insert.bind(2, ref.collection)
            insert.bind(3, ref.id)
            insert.bind(4, history.firstSeq)
            insert.bind(5, blob: history.writer.bytes)
            try insert.execute()
            entry.history = nil
        }
        let views = CollectionViews(schema: schema)
        for (ref, entry) in touched {
            try views.write(ref, view: Self.view(ref, entry.slots), in: db, statements: viewStatements)
        }
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

extension Database {
    /// The stored state of a slot; the empty state when absent.
    func slotState(_ key: SlotKey) throws -> SlotState {
        let statement = try cachedStatement(sql: """
            SELECT state FROM sync_slots WHERE collection = ? AND record = ? AND field = ? AND element = ?
            """)
        guard let blob = try Data.fetchOne(statement, arguments: [key.collection, key.record, key.field, key.element]) else {
            return .empty
        }
        return try SlotState.stored(blob, key: key)
    }
}
