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
            var keyBytes = BinaryWriter(capacity: 128)
            try db.forEachStoredRecord { ref, slots in
                for (name, slot) in slots.sorted(by: { $0.value.seq < $1.value.seq }) {
                    let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                    next += 1
                    try insert.execute(arguments: [
                        key.collection, key.record, key.field, key.element, Data(slot.encoded), next,
                        slot.hash.withUnsafeBytes { Data($0) }, StateDigest.bucket(of: key, scratch: &keyBytes),
                        name.element.isEmpty && SlotReader.scalar(slot.state).isConflicted, slot.echo?.data])
                }
            }
            try db.execute(sql: """
                DROP TABLE sync_records;
                DROP TABLE sync_feed;
                DELETE FROM grdb_migrations WHERE identifier = 'v2 record rows';
                UPDATE sync_meta SET value = 1 WHERE key = 'format';
                """)
        }
    }
}
