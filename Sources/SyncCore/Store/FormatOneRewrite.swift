import Foundation
import GRDB

extension Store {
    /// Puts this database back into the format-1 layout (one `sync_slots`
    /// row per slot, each with its own seq, as syncd wrote it before record
    /// rows), so tests and `syncbench migrate` can exercise the move a
    /// database written by an older version goes through on its next open.
    /// Not for use on a live database: close every other handle first.
    @_spi(Testing) public func rewriteAsFormatOne() throws {
        try withWriteTransaction { db in
            try db.execute(sql: """
                CREATE TABLE sync_slots(
                    collection TEXT NOT NULL, record TEXT NOT NULL, field TEXT NOT NULL, element TEXT NOT NULL,
                    state BLOB NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, bucket INTEGER NOT NULL,
                    conflicted INTEGER NOT NULL DEFAULT 0, echo BLOB,
                    PRIMARY KEY(collection, record, field, element)) WITHOUT ROWID;
                CREATE UNIQUE INDEX sync_slots_by_seq ON sync_slots(seq);
                CREATE INDEX sync_slots_conflicted ON sync_slots(collection, record) WHERE conflicted = 1;
                """)
            let insert = try db.cachedStatement(sql: """
                INSERT INTO sync_slots(collection, record, field, element, state, seq, hash, bucket, conflicted, echo)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            // Format 1 gave every slot its own seq: spread a shared seq over
            // distinct ones, in order, above everything stamped so far.
            var next: Int64 = 0
            var keyBytes = BinaryWriter(capacity: 128), hashScratch = BinaryWriter(capacity: 512)
            // Format 1 kept every live version in history: a slot whose
            // history is deferred (format 5) gets its row here.
            let history = try db.cachedStatement(sql: "INSERT INTO sync_history(record_key, collection, record, seq, entries) VALUES (?, ?, ?, ?, ?)")
            try db.forEachStoredRecord { ref, slots in
                for (name, slot) in slots where slot.historyPending && !slot.state.versions.isEmpty {
                    var entries = HistoryEntries()
                    entries.append(field: name.field, element: name.element, versions: slot.state.versions, seq: slot.seq)
                    try history.execute(arguments: [HistoryKey.of(ref), ref.collection, ref.id, slot.seq, Data(entries.writer.bytes)])
                }
                for (name, slot) in slots.sorted(by: { $0.value.seq < $1.value.seq }) {
                    let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                    next += 1
                    try insert.execute(arguments: [
                        key.collection, key.record, key.field, key.element, Data(slot.encoded), next,
                        slot.recomputedHash(under: key, scratch: &hashScratch).hash.withUnsafeBytes { Data($0) },
                        StateDigest.bucket(of: key, scratch: &keyBytes),
                        name.element.isEmpty && SlotReader.scalar(slot.state).isConflicted, slot.echo?.data])
                }
            }
            // History rows in seq order, as a format-1 build appended them
            // (readers walk rows by rowid and stop by seq).
            try db.execute(sql: """
                CREATE TEMP TABLE history_in_order AS SELECT record_key, collection, record, seq, entries FROM sync_history ORDER BY seq, rowid;
                DELETE FROM sync_history;
                INSERT INTO sync_history(record_key, collection, record, seq, entries)
                    SELECT record_key, collection, record, seq, entries FROM history_in_order ORDER BY rowid;
                DROP TABLE history_in_order;
                """)
            try db.execute(sql: """
                DROP TABLE sync_records;
                DROP TABLE sync_feed;
                DELETE FROM grdb_migrations WHERE identifier = 'v2 record rows';
                UPDATE sync_meta SET value = 1 WHERE key = 'format';
                """)
        }
    }
}
