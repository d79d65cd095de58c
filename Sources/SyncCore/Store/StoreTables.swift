import GRDB

/// The store's own tables (all prefixed `sync_`), created by a GRDB migrator.
///
/// `sync_records` holds each record's slots in one row (`StoredRecord`:
/// every slot's state, echo, origin and the seq that last changed it);
/// `sync_feed` maps each seq still carried by some slot to its record, so the
/// change feed walks seqs in order and touches only what changed;
/// `sync_history` the versions applied here, one row per record per
/// transaction (see `HistoryEntries`; a version is added only when its dot
/// was new to the slot, so never twice; the versions of a slot's first state
/// only when the slot next changes, format 5); `sync_buckets` the
/// XOR of slot hashes per bucket, kept current so the digest is cheap.
enum StoreTables {
    /// Bumped when the on-disk layout changes incompatibly. 3: triggers on
    /// the collection tables queue SQL writes (replication-model §8.1); a
    /// build of format 2 would write those tables with triggers on and
    /// have its own view refreshes refused or queued, so it must refuse the
    /// file instead. 4: a record row's slot may carry an origin (flag bit
    /// 1, replication-model §4.7), which a build of format 3 cannot read;
    /// a format-3 file is taken as it is (its rows carry none) and marked 4
    /// at open. 5: a slot's first state may keep its versions out of
    /// history until the slot changes (flag bit 2, docs/architecture.md
    /// "History"), which a build of format 4 cannot read; a format-3 or 4
    /// file is taken as it is (every live version is in its history) and
    /// marked 5 at open. 6: a slot's row holds no hash of its state (flag
    /// bit 3; the digest's hashes are made from the state where needed,
    /// docs/storage-format.md), which a build of format 5 cannot read; a
    /// file of format 3 to 5 is taken as it is (the hashes its rows hold are
    /// skipped unread) and marked 6 at open.
    static let formatVersion = 6

    /// The formats whose files this build reads as they are: a join
    /// snapshot of a peer of protocol 1.5 is format 3, of 1.6 format 4, of
    /// 1.7 format 5.
    static let readableFormats = 3...formatVersion

    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE sync_meta(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
                CREATE TABLE sync_slots(
                    collection TEXT NOT NULL, record TEXT NOT NULL, field TEXT NOT NULL, element TEXT NOT NULL,
                    state BLOB NOT NULL,
                    seq INTEGER NOT NULL,
                    hash BLOB NOT NULL,
                    bucket INTEGER NOT NULL,
                    conflicted INTEGER NOT NULL DEFAULT 0,
                    echo BLOB,
                    PRIMARY KEY(collection, record, field, element)) WITHOUT ROWID;
                CREATE UNIQUE INDEX sync_slots_by_seq ON sync_slots(seq);
                CREATE INDEX sync_slots_conflicted ON sync_slots(collection, record) WHERE conflicted = 1;
                CREATE TABLE sync_history(
                    record_key INTEGER NOT NULL,
                    collection TEXT NOT NULL, record TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    entries BLOB NOT NULL);
                CREATE INDEX sync_history_by_record ON sync_history(record_key);
                CREATE TABLE sync_buckets(bucket INTEGER PRIMARY KEY NOT NULL, digest BLOB NOT NULL);
                CREATE TABLE sync_cursors(peer BLOB PRIMARY KEY NOT NULL, cursor INTEGER NOT NULL, updated_at INTEGER NOT NULL);
                CREATE TABLE sync_peer_devices(replica BLOB PRIMARY KEY NOT NULL, device TEXT NOT NULL, first_seen INTEGER NOT NULL);
                CREATE TABLE sync_replica_log(replica BLOB PRIMARY KEY NOT NULL, device TEXT, started_at INTEGER NOT NULL, reason TEXT NOT NULL);
                CREATE TABLE sync_clock_reports(
                    peer BLOB PRIMARY KEY NOT NULL, count INTEGER NOT NULL, max_ahead_ms INTEGER NOT NULL,
                    last_hlc INTEGER NOT NULL, last_at INTEGER NOT NULL);
                CREATE TABLE sync_schema_problems(
                    collection TEXT NOT NULL, record TEXT NOT NULL, field TEXT NOT NULL, element TEXT NOT NULL,
                    problem TEXT NOT NULL, peer BLOB, seen_at INTEGER NOT NULL,
                    PRIMARY KEY(collection, record, field, element)) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2 record rows") { db in
            try db.execute(sql: """
                CREATE TABLE sync_records(
                    id INTEGER PRIMARY KEY,
                    collection TEXT NOT NULL, record TEXT NOT NULL,
                    slots BLOB NOT NULL,
                    slot_count INTEGER NOT NULL,
                    conflicted INTEGER NOT NULL DEFAULT 0);
                CREATE UNIQUE INDEX sync_records_by_name ON sync_records(collection, record);
                CREATE INDEX sync_records_conflicted ON sync_records(collection, record) WHERE conflicted = 1;
                CREATE TABLE sync_feed(seq INTEGER PRIMARY KEY, record_id INTEGER NOT NULL);
                """)
            try RecordRowsMigration.run(db)
            try db.execute(sql: "DROP TABLE sync_slots")
        }
        migrator.registerMigration("v3 dot collisions") { db in
            // Additive: a build without it ignores the table.
            try db.execute(sql: """
                CREATE TABLE sync_dot_collisions(
                    collection TEXT NOT NULL, record TEXT NOT NULL, field TEXT NOT NULL, element TEXT NOT NULL,
                    replica BLOB NOT NULL, counter INTEGER NOT NULL, peer BLOB, seen_at INTEGER NOT NULL,
                    PRIMARY KEY(collection, record, field, element, replica, counter)) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v4 replica proofs") { db in
            // Additive: a build without it inserts bindings with proven = 0.
            try db.execute(sql: "ALTER TABLE sync_peer_devices ADD COLUMN proven INTEGER NOT NULL DEFAULT 0")
            // Echo marks of the replica set at or below this seq were set by a
            // device that had claimed the id without proof: not honoured.
            try db.execute(sql: "ALTER TABLE sync_peer_devices ADD COLUMN echo_since INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v5 cursor peer highest") { db in
            // Additive: an older build leaves it NULL ("not known"). The
            // peer's highest seq as the batch that moved the cursor said.
            try db.execute(sql: "ALTER TABLE sync_cursors ADD COLUMN peer_highest INTEGER")
        }
        migrator.registerMigration("v6 knowledge") { db in
            // Additive: per replica, the highest seq of its feed we hold all
            // of (replication-model §4.7). An older build ignores it.
            try db.execute(sql: "CREATE TABLE sync_knowledge(replica BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID")
        }
        return migrator
    }
}

/// Keys of `sync_meta`.
enum MetaKey {
    static let format = "format"
    static let replica = "replica_id"
    static let device = "device_id"
    static let counter = "counter"
    static let hlc = "hlc"
    static let schemaHash = "schema_hash"
    static let createdAt = "created_at"
    static let viewsLayout = "views_layout"
    /// JSON array: the collection tables the store has made (`CollectionViews.tablesMade`).
    static let viewTables = "view_tables"
    /// `view_columns:COLLECTION`, a JSON array: the columns syncd laid that
    /// collection's table out with (any other is an analyst's, `KeptColumns`).
    static func viewColumns(_ collection: String) -> String { "view_columns:\(collection)" }
    /// The name of the seed schema the database was created on (its
    /// lineage); opening it on another is refused.
    static let dataset = "dataset"
    /// `FileIdentity` of the file when last opened for writing.
    static let fileIdentity = "file_identity"
    /// The nonce the replica id was derived with (`ReplicaProof`); absent for a random id.
    static let replicaNonce = "replica_nonce"
    /// Wall millis of the last renewal forced by a received batch (`Store.apply`).
    static let ownIdRenewedAt = "own_id_renewed_at"
    /// Set when the replica joined by snapshot (replication-model §4.6): the
    /// replica it is a snapshot of (16 bytes) and that replica's highest seq then.
    static let joinOriginReplica = "join_origin_replica"
    static let joinOriginSeq = "join_origin_seq"
    /// The highest seq when a build of format 5 first wrote the file (0 for
    /// a file made by one, or after a join): only slots stamped above it can
    /// have their history deferred, so readers look for them there only.
    static let deferredHistorySince = "deferred_history_since"
    /// Set (1) in a join's copy of the database kept aside, by the last
    /// transaction that writes the copy (`Store.keepAside(at:)`): the copy
    /// is whole, so a rollback journal found beside it later is stale.
    static let joinAsideComplete = "join_aside_complete"
    /// How many times `Store.syncCommittedToDisk` made the commits durable
    /// (the commit that syncs the WAL must change a row).
    static let durableSyncs = "durable_syncs"
    /// Set (1) when a constraint of the analyst's held a collection-table
    /// row back (`RefusedRows`); removed by a repair of the rows
    /// (`Store.repairViews`). A join snapshot's copy compares and repairs
    /// its rows while it is set (a full comparison costs seconds at a
    /// million records, so it is not made otherwise).
    static let rowsHeldBack = "rows_held_back"
}

extension Database {
    func meta(_ key: String) throws -> DatabaseValue {
        try DatabaseValue.fetchOne(cachedStatement(sql: "SELECT value FROM sync_meta WHERE key = ?"), arguments: [key]) ?? .null
    }

    func setMeta(_ key: String, _ value: some DatabaseValueConvertible) throws {
        try cachedStatement(sql: "INSERT INTO sync_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .execute(arguments: [key, value])
    }

    /// Copies the whole WAL into the database and cuts the WAL file to
    /// zero bytes (waiting for readers up to the busy timeout).
    func truncateWAL() throws {
        _ = try Row.fetchAll(self, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
    }

    /// The seq of `peer`'s feed up to which this replica has merged (0 if never).
    func cursor(for peer: ReplicaID) throws -> UInt64 {
        UInt64(bitPattern: try Int64.fetchOne(cachedStatement(sql: "SELECT cursor FROM sync_cursors WHERE peer = ?"), arguments: [peer.data]) ?? 0)
    }

    /// The local replica id recorded in this database.
    func replicaID() throws -> ReplicaID {
        guard let data = Data.fromDatabaseValue(try meta(MetaKey.replica)), let id = ReplicaID(bytes: data) else {
            throw StoreError.invalidEdit("database has no replica id: it was not initialised by syncd")
        }
        return id
    }
}

import Foundation

extension SlotState {
    /// Decodes a state read from `sync_slots`; a failure names the slot.
    static func stored(_ blob: Data, key: SlotKey) throws(StoreError) -> SlotState {
        try stored([UInt8](blob), key: key)
    }

    static func stored(_ bytes: [UInt8], key: SlotKey) throws(StoreError) -> SlotState {
        do {
            return try SlotStateCodec.decodeState(bytes)
        } catch {
            throw .corruptSlot(key, reason: error.description)
        }
    }
}
