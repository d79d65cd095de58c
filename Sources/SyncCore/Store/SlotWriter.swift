import Crypto
import Foundation
import GRDB

/// Writes changed slot states inside one database transaction.
///
/// Shared by local writes and remote merges: stamps a fresh seq on every slot
/// whose state changes (never on a no-op), appends new versions to history,
/// keeps bucket digests and the conflict flag current, and at the end
/// refreshes the per-collection view rows of the records it touched.
final class SlotWriter {
    let db: Database
    let schema: Schema
    private var seq: Int64
    private var bucketDeltas: [Int: [UInt8]] = [:]
    private(set) var touchedRecords: Set<RecordRef> = []
    private(set) var slotsChanged = 0

    init(db: Database, schema: Schema) throws {
        self.db = db
        self.schema = schema
        seq = try Int64.fetchOne(db.cachedStatement(sql: "SELECT max(seq) FROM sync_slots")) ?? 0
    }

    /// The stored state of a slot and its hash; the empty state when absent.
    func load(_ key: SlotKey) throws -> (state: SlotState, hash: [UInt8]?) { try db.slot(key) }

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

        try db.cachedStatement(sql: """
            INSERT INTO sync_slots(collection, record, field, element, state, seq, hash, bucket, conflicted, echo)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(collection, record, field, element) DO UPDATE SET
                state = excluded.state, seq = excluded.seq, hash = excluded.hash,
                conflicted = excluded.conflicted, echo = excluded.echo
            """).execute(arguments: [key.collection, key.record, key.field, key.element, Data(stateBytes), seq,
                                     Data(hash), bucket, conflicted, echo.map(\.data)])

        if !newVersions.isEmpty {
            let insert = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO sync_versions(collection, record, field, element, replica, counter, hlc, author, value, seq)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for version in newVersions {
                try insert.execute(arguments: [key.collection, key.record, key.field, key.element, version.dot.replica.data,
                                               Int64(bitPattern: version.dot.counter), Int64(bitPattern: version.hlc.raw),
                                               version.author, Data(SlotStateCodec.encode(version.value)), seq])
            }
        }

        var delta = bucketDeltas[bucket] ?? [UInt8](repeating: 0, count: StateDigest.hashSize)
        for index in 0..<StateDigest.hashSize { delta[index] ^= hash[index] ^ (previousHash?[index] ?? 0) }
        bucketDeltas[bucket] = delta
        touchedRecords.insert(key.recordRef)
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
        let views = CollectionViews(schema: schema)
        for ref in touchedRecords { try views.refresh(ref, in: db) }
    }

    /// SHA-256 of the slot's key and canonical state, truncated to `StateDigest.hashSize`.
    static func slotHash(keyBytes: [UInt8], stateBytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: keyBytes)
        hasher.update(data: stateBytes)
        return Array(hasher.finalize().prefix(StateDigest.hashSize))
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
