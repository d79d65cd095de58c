import Crypto
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
        var hash: [UInt8]?
    }

    struct FieldElement: Hashable {
        let field: String
        let element: String
    }

    let db: Database
    let schema: Schema
    private var seq: Int64
    private var bucketDeltas: [Int: [UInt8]] = [:]
    private var records: [RecordRef: [FieldElement: Stored]] = [:]
    private var touched: [RecordRef] = []
    private var touchedSet: Set<RecordRef> = []
    private var history: [RecordRef: HistoryEntries] = [:]
    private(set) var slotsChanged = 0
    /// Prepared once per transaction: looking a statement up by its SQL text
    /// hashes the text, which on this path cost more than SQLite's own work.
    private var selectSlots: FastStatement?
    private var upsertSlot: FastStatement?
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

    /// Every stored slot of a record, read once per transaction.
    func slots(of ref: RecordRef) throws -> [FieldElement: Stored] {
        if let cached = records[ref] { return cached }
        let select = try prepared(&selectSlots, "SELECT field, element, state, hash FROM sync_slots WHERE collection = ? AND record = ?")
        select.bind(1, ref.collection)
        select.bind(2, ref.id)
        var slots: [FieldElement: Stored] = [:]
        defer { select.reset() }
        while try select.step() {
            let key = FieldElement(field: select.text(0), element: select.text(1))
            let slotKey = SlotKey(collection: ref.collection, record: ref.id, field: key.field, element: key.element)
            slots[key] = Stored(state: try SlotState.stored(select.blob(2), key: slotKey), hash: select.blob(3))
        }
        records[ref] = slots
        return slots
    }

    /// What a reader sees of a record now (this transaction's writes
    /// included); nil when no slot of it exists. Served from the cache.
    func view(of ref: RecordRef) throws -> RecordView? {
        let slots = try slots(of: ref)
        guard !slots.isEmpty else { return nil }
        return RecordView(ref: ref, slots: slots.map { (field: $0.key.field, element: $0.key.element, state: $0.value.state) })
    }

    /// The stored state of a slot and its hash; the empty state when absent.
    func load(_ key: SlotKey) throws -> (state: SlotState, hash: [UInt8]?) {
        let stored = try slots(of: key.recordRef)[FieldElement(field: key.field, element: key.element)]
        return (stored?.state ?? .empty, stored?.hash)
    }

    /// Stores `state` as the slot's new state with a fresh seq.
    ///
    /// - Parameters:
    ///   - previousHash: the hash of the state it replaces (nil if new), for the bucket digest.
    ///   - newVersions: versions this replica had never seen, appended to history.
    ///   - echo: the peer whose state equals this one exactly, so the feed does not send it back.
    func store(_ key: SlotKey, state: SlotState, previousHash: [UInt8]?, newVersions: [Version], echo: ReplicaID?) throws {
        seq += 1
        var keyWriter = BinaryWriter(capacity: 64)
        SlotStateCodec.encode(key, into: &keyWriter)
        let keyBytes = keyWriter.bytes
        let stateBytes = SlotStateCodec.encode(state)
        let hash = SlotWriter.slotHash(keyBytes: keyBytes, stateBytes: stateBytes)
        let bucket = StateDigest.bucket(forKeyBytes: keyBytes)
        let conflicted = key.element.isEmpty && SlotReader.scalar(state).isConflicted
        let ref = key.recordRef

        let upsert = try prepared(&upsertSlot, """
            INSERT INTO sync_slots(collection, record, field, element, state, seq, hash, bucket, conflicted, echo)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(collection, record, field, element) DO UPDATE SET
                state = excluded.state, seq = excluded.seq, hash = excluded.hash,
                conflicted = excluded.conflicted, echo = excluded.echo
            """)
        upsert.bind(1, key.collection)
        upsert.bind(2, key.record)
        upsert.bind(3, key.field)
        upsert.bind(4, key.element)
        upsert.bind(5, blob: stateBytes)
        upsert.bind(6, seq)
        upsert.bind(7, blob: hash)
        upsert.bind(8, Int64(bucket))
        upsert.bind(9, conflicted ? 1 : 0)
        if let echo { upsert.bind(10, blob: echo.bytes) } else { upsert.bindNull(10) }
        try upsert.execute()

        if !newVersions.isEmpty {
            history[ref, default: HistoryEntries()].append(field: key.field, element: key.element, versions: newVersions, seq: seq)
        }

        var delta = bucketDeltas[bucket] ?? [UInt8](repeating: 0, count: StateDigest.hashSize)
        for index in 0..<StateDigest.hashSize { delta[index] ^= hash[index] ^ (previousHash?[index] ?? 0) }
        bucketDeltas[bucket] = delta
        _ = try slots(of: ref)
        records[ref]![FieldElement(field: key.field, element: key.element)] = Stored(state: state, hash: hash)
        if touchedSet.insert(ref).inserted { touched.append(ref) }
        slotsChanged += 1
    }

    /// Writes bucket digests and view rows; call once, before the transaction commits.
    func finish() throws {
        for (bucket, delta) in bucketDeltas {
            let current = try Data.fetchOne(db.cachedStatement(sql: "SELECT digest FROM sync_buckets WHERE bucket = ?"), arguments: [bucket])
            var digest = current.map { [UInt8]($0) } ?? [UInt8](repeating: 0, count: StateDigest.hashSize)
            for index in 0..<StateDigest.hashSize { digest[index] ^= delta[index] }
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO sync_buckets(bucket, digest) VALUES (?, ?)")
                .execute(arguments: [bucket, Data(digest)])
        }
        bucketDeltas.removeAll()
        let insert = try FastStatement(db, "INSERT INTO sync_history(record_key, collection, record, seq, entries) VALUES (?, ?, ?, ?, ?)")
        for ref in touched {
            guard let entries = history[ref] else { continue }
            insert.bind(1, HistoryKey.of(ref))
            insert.bind(2, ref.collection)
            insert.bind(3, ref.id)
            insert.bind(4, entries.firstSeq)
            insert.bind(5, blob: entries.writer.bytes)
            try insert.execute()
        }
        history.removeAll()
        let views = CollectionViews(schema: schema)
        for ref in touched {
            let slots = (records[ref] ?? [:]).map { (field: $0.key.field, element: $0.key.element, state: $0.value.state) }
            try views.write(ref, view: slots.isEmpty ? nil : RecordView(ref: ref, slots: slots), in: db, statements: viewStatements)
        }
    }

    /// SHA-256 of the slot's key and canonical state, truncated to `StateDigest.hashSize`.
    static func slotHash(keyBytes: [UInt8], stateBytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: keyBytes)
        hasher.update(data: stateBytes)
        return Array(hasher.finalize().prefix(StateDigest.hashSize))
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
    /// The stored state of a slot and its hash; the empty state when absent.
    func slot(_ key: SlotKey) throws -> (state: SlotState, hash: [UInt8]?) {
        let statement = try cachedStatement(sql: """
            SELECT state, hash FROM sync_slots WHERE collection = ? AND record = ? AND field = ? AND element = ?
            """)
        guard let row = try Row.fetchOne(statement, arguments: [key.collection, key.record, key.field, key.element]) else {
            return (.empty, nil)
        }
        return (try SlotState.stored(row[0], key: key), [UInt8](row[1] as Data))
    }
}
