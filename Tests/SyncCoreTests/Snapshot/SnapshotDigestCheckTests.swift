import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// A snapshot is a file from anywhere (a backup disk, a copy sent by a
/// team-mate): the digest it records must be the one its slots make, or a
/// replica restored from it would never be seen equal to a peer holding the
/// same slots (replication-model §4, §7). Rows keep no hash of their own
/// (format 6): the digest is made from the states.
@Suite("Snapshot verification: the digest its slots make")
struct SnapshotDigestCheckTests: EditedSnapshots {
    @Test func aRecordedBucketDigestThatIsNotItsSlotsIsRefusedAndRestoresNothing() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        var flipped = -1
        let url = try snapshot(in: dir, data: data) { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT bucket, digest FROM sync_buckets WHERE digest != zeroblob(16) ORDER BY bucket LIMIT 1"))
            flipped = row[0]
            var digest: Data = row[1]
            digest[digest.startIndex] ^= 0x01
            try db.execute(sql: "UPDATE sync_buckets SET digest = ? WHERE bucket = ?", arguments: [digest, flipped])
        }
        let problems = try Snapshots.verify(url)
        #expect(problems == ["the digest of bucket \(flipped) is not the one its slots make"], "\(problems)")
        let before = try state(of: data)
        let error = #expect(throws: SnapshotError.self) { try Snapshots.restore(url, into: data, deviceID: "DEV-A") }
        #expect("\(error.map { "\($0)" } ?? "")".contains("is not the one its slots make"))
        let after = try state(of: data)
        #expect(after.0 == before.0 && after.1 == before.1, "the database as it was")
        #expect(Snapshots.keptAside(in: data.url).isEmpty)
    }

    @Test func aSlotStateChangedInPlaceIsRefusedByItsBucket() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            // The same length, so the row still decodes canonically: only the digest can tell.
            var blob = try #require(try Data.fetchOne(db, sql: "SELECT slots FROM sync_records WHERE record = 'x3'"))
            let range = try #require(blob.range(of: Data("Country 3".utf8)))
            blob.replaceSubrange(range, with: Data("Countrz 3".utf8))
            try db.execute(sql: "UPDATE sync_records SET slots = ? WHERE record = 'x3'", arguments: [blob])
        }
        let problems = try Snapshots.verify(url)
        #expect(problems.count == 1 && problems.contains { $0.hasPrefix("the digest of bucket") }, "\(problems)")
        #expect(throws: SnapshotError.self) { try Snapshots.restore(url, into: data, deviceID: "DEV-A") }
    }
    /// Files whose rows GRDB would read as something else than the store's
    /// writer does (helper-70): every one is refused, and restores nothing.
    @Test(arguments: [
        // A second row of countries/x3 whose collection is a blob: GRDB reads it as the same text.
        ("blob name", "INSERT INTO sync_records(collection, record, slots, slot_count, conflicted) SELECT CAST(collection AS BLOB), record, slots, slot_count, conflicted FROM sync_records WHERE record = 'x3'",
         "its cells are not of the types syncd writes"),
        // One whose id has a NUL after x3: GRDB reads text up to the NUL.
        ("NUL in a name", "INSERT INTO sync_records(collection, record, slots, slot_count, conflicted) SELECT collection, record || char(0) || 'z', slots, slot_count, conflicted FROM sync_records WHERE record = 'x3'",
         "a name with a NUL byte or bytes that are not UTF-8"),
        // Each slot of x3 twice in its row (the count doubled, the slots repeated).
        ("slots twice", "UPDATE sync_records SET slots = CAST(CAST(char(2 * slot_count) AS BLOB) || substr(slots, 2) || substr(slots, 2) AS BLOB) WHERE record = 'x3'",
         "twice in its row"),
        ("slot count", "UPDATE sync_records SET slot_count = slot_count + 1 WHERE record = 'x3'", "slot count"),
        // A digest kept as text: the writer reads it through sqlite3_column_blob as other bytes.
        ("digest as text", "UPDATE sync_buckets SET digest = CAST(digest AS TEXT) WHERE bucket = (SELECT min(bucket) FROM sync_buckets)",
         "a bucket digest row that is not a bucket number and 16 bytes"),
        ("records a view", "ALTER TABLE sync_records RENAME TO records_kept; CREATE VIEW sync_records AS SELECT * FROM records_kept",
         "its table sync_records is missing or not declared as this build declares it"),
        // helper-71: what the file would do once restored, after the check.
        ("a trigger on sync_meta", "CREATE TRIGGER evil AFTER UPDATE ON sync_meta BEGIN UPDATE sync_buckets SET digest = zeroblob(16); END",
         "a trigger the store does not make: evil on sync_meta"),
        ("a trigger of its own on a table", "CREATE TRIGGER mine AFTER UPDATE ON countries BEGIN SELECT 1; END",
         "a trigger the store does not make: mine on countries"),
        ("buckets without their key", "CREATE TABLE b2(bucket INTEGER NOT NULL, digest BLOB NOT NULL); INSERT INTO b2 SELECT * FROM sync_buckets; DROP TABLE sync_buckets; ALTER TABLE b2 RENAME TO sync_buckets",
         "its table sync_buckets is missing or not declared as this build declares it"),
        ("names unique in any case", "DROP INDEX sync_records_by_name; CREATE UNIQUE INDEX sync_records_by_name ON sync_records(collection COLLATE NOCASE, record)",
         "the indexes of its store tables are not this build's"),
        ("a feed entry no slot carries", "INSERT INTO sync_feed VALUES (9223372036854775807, 1)", "which no slot of that record carries"),
        ("a feed entry missing", "DELETE FROM sync_feed WHERE seq = (SELECT max(seq) FROM sync_feed)", "has no change-feed entry for the record"),
        ("a newer format", "UPDATE sync_meta SET value = \(StoreTables.formatVersion + 1) WHERE key = 'format'", "its storage format is \(StoreTables.formatVersion + 1)"),
        // helper-72: a unique index of its own makes the store's later feed writes fail.
        ("an index of its own", "CREATE UNIQUE INDEX u ON sync_feed(record_id >= 0) WHERE seq > 1000000",
         "the indexes of its store tables are not this build's"),
        ("a trigger on SYNC_META", "CREATE TRIGGER up AFTER UPDATE ON SYNC_META BEGIN SELECT 1; END",
         "a trigger the store does not make: up on sync_meta"),
        // helper-73: the SQL-edit queues, which a restore declares again, as far as their columns.
        ("a queue without its edit number", "CREATE TABLE sync_sql_edits_zz(op, at, reason, refused_at, forced, \"old id\", \"new id\")",
         "its SQL-edit queue sync_sql_edits_zz is not laid out as a queue (missing: edit"),
        ("a queue column of its own", "ALTER TABLE sync_sql_edits_countries ADD COLUMN sneaky",
         "other columns: sneaky"),
        ("a counter without its count", "DROP TABLE sync_sql_counter; CREATE TABLE sync_sql_counter(m)", "its table sync_sql_counter has no column n"),
        // helper-75: SQLite compares column names without case; the store's are lower case.
        ("a queue column in upper case", "ALTER TABLE sync_sql_edits_countries ADD COLUMN \"new OTHER\"", "other columns: new OTHER"),
    ])
    func aFileReadOtherwiseThanTheWriterReadsItIsRefused(_ case: (name: String, sql: String, problem: String)) throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            // The file's own triggers (SQL writes) stay out of the way of these edits.
            for name in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger'") {
                try db.execute(sql: "DROP TRIGGER \(name.quotedDatabaseIdentifier)")
            }
            try db.execute(sql: `case`.sql)
        }
        let problems = try Snapshots.verify(url)
        #expect(problems.contains { $0.contains(`case`.problem) }, "\(`case`.name): \(problems)")
        let before = try state(of: data)
        #expect(throws: SnapshotError.self) { try Snapshots.restore(url, into: data, deviceID: "DEV-A") }
        let after = try state(of: data)
        #expect(after.0 == before.0 && after.1 == before.1, "\(`case`.name): the database as it was")
    }

    /// Behind verification: the staged copy takes its new identity with
    /// triggers off, as on the store's own connections, so a trigger the
    /// file brings does not fire there.
    @Test func theStagedCopyTakesItsIdentityWithTriggersOff() throws {
        let (dir, _, url) = try edited("CREATE TRIGGER evil AFTER UPDATE ON sync_meta BEGIN DELETE FROM sync_buckets; END",
                                       "CREATE TRIGGER evil_insert AFTER INSERT ON sync_meta BEGIN DELETE FROM sync_buckets; END")
        defer { withExtendedLifetime(dir) {} }
        let buckets = { (path: String) in try DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_buckets") ?? 0 } }
        let before = try buckets(url.path)
        #expect(before > 0)
        _ = try Snapshots.prepareRestored(at: url.path, from: "s", deviceID: "DEV-B", identity: nil, wall: 1, random: Store.Options().random)
        #expect(try buckets(url.path) == before)
    }

    /// A trigger under one of the store's own names (which verification lets
    /// through, not reading what it does) is gone once restored, and the
    /// store's SQL-edit triggers are this build's: an analyst's SQL write
    /// after the restore touches no store table.
    @Test func aTriggerUnderTheStoresNameIsGoneOnceRestored() throws {
        let (dir, data, url) = try edited("DROP TRIGGER sync_sql_countries_update",
                                          "CREATE TRIGGER sync_sql_countries_update AFTER UPDATE ON countries BEGIN DELETE FROM sync_buckets; END")
        defer { withExtendedLifetime(dir) {} }
        #expect(try Snapshots.verify(url) == [])
        _ = try Snapshots.restore(url, into: data, deviceID: "DEV-A")
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        let digest = try store.digest()
        let client = try DatabaseQueue(path: data.databasePath)
        try client.write { db in try db.execute(sql: "UPDATE countries SET name = 'Renamed' WHERE id = 'x3'") }
        let buckets = try client.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_buckets") ?? 0 }
        let triggers = try client.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'countries' ORDER BY name") }
        try client.close()
        #expect(buckets > 0)
        #expect(triggers == SQLEditQueue.triggerSuffixes.map { "sync_sql_countries_\($0)" }.sorted())
        #expect(try store.digest() == digest)
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 1, "the analyst's write is taken up as an edit")
    }
}
