import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// A restore and the SQL edits (docs/sql.md, replication-model §7, §8.1):
/// the queues a snapshot brings are declared as this build declares them,
/// the collection tables are written from the records, and the edits
/// waiting in the database a restore replaces are carried over, so no
/// analyst's SQL write is dropped unseen (helper-73).
@Suite("Restore: the SQL-edit queues")
struct RestoredSQLEditsTests: EditedSnapshots {
    /// Runs `statements` as an analyst's SQL client would (triggers on).
    func client(_ data: DataDirectory, _ statements: String...) throws {
        let queue = try DatabaseQueue(path: data.databasePath)
        defer { try? queue.close() }
        for sql in statements { try queue.write { db in try db.execute(sql: sql) } }
    }

    func declaration(_ name: String, in path: String) throws -> [UInt8] {
        try DatabaseQueue(path: path).read { db in
            Array((try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = ?", arguments: [name]) ?? "").utf8)
        }
    }

    func rows(_ sql: String, in data: DataDirectory) throws -> [String] {
        try DatabaseQueue(path: data.databasePath).read { db in try String.fetchAll(db, sql: sql) }
    }

    /// A queue table whose rows replace each other on a conflict of their
    /// own (`op` unique), an index of its own under the pending index's
    /// name, and a counter set back: once restored, two SQL updates of two
    /// records are two edits, both taken up.
    @Test func aQueueThatReplacesItsRowsIsDeclaredAgain() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'sync_sql_edits_countries'") ?? ""
            try db.execute(sql: "DROP TABLE sync_sql_edits_countries")
            try db.execute(sql: sql.replacingOccurrences(of: "op TEXT NOT NULL", with: "op TEXT NOT NULL UNIQUE ON CONFLICT REPLACE"))
            try db.execute(sql: "CREATE INDEX sync_sql_edits_countries_pending ON sync_sql_edits_countries(op)")
        }
        #expect(try Snapshots.verify(url) == [], "column names as a queue has them: let through, and declared again")
        _ = try Snapshots.restore(url, into: data, deviceID: "DEV-A")
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        try client(data, "UPDATE countries SET name = 'First' WHERE id = 'x1'", "UPDATE countries SET name = 'Second' WHERE id = 'x2'")
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == 2)
        #expect(try store.record(ref("countries/x1"))?.scalars["name"]?.value == .text("First"))
        #expect(try store.record(ref("countries/x2"))?.scalars["name"]?.value == .text("Second"))
        // As a store of this build declares them.
        let fresh = TemporaryDirectory()
        _ = try DataDirectory(url: fresh.url).openStore(deviceID: "DEV-B")
        for name in ["sync_sql_edits_countries", "sync_sql_edits_countries_pending", SQLEditQueue.counterTable] {
            #expect(try declaration(name, in: data.databasePath) == (try declaration(name, in: DataDirectory(url: fresh.url).databasePath)), "\(name)")
        }
        #expect(try rows("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sync_sql_edits_countries'", in: data)
                == ["sync_sql_edits_countries_pending"])
    }

    /// An edit waiting in the snapshot, and its counter set below it: the
    /// restored counter is past it, so the next SQL write is numbered after
    /// it (not refused as a number in use), and both are taken up.
    @Test func theCounterIsPastEveryEditTheSnapshotHolds() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            try db.execute(sql: "UPDATE countries SET notes = 'waiting in the snapshot' WHERE id = 'x4'")
            try db.execute(sql: "UPDATE sync_sql_counter SET n = 0")
        }
        _ = try Snapshots.restore(url, into: data, deviceID: "DEV-A")
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        try client(data, "UPDATE countries SET notes = 'written after' WHERE id = 'x5'")
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 2)
        #expect(try store.record(ref("countries/x4"))?.scalars["notes"]?.value == .text("waiting in the snapshot"))
        #expect(try store.record(ref("countries/x5"))?.scalars["notes"]?.value == .text("written after"))
    }

    /// A queue renamed to upper case is the queue under its own name once
    /// restored, and the store finds it in place (no rewrite at every open).
    @Test func aQueueInUpperCaseTakesItsOwnName() throws {
        let (dir, data, url) = try edited("ALTER TABLE sync_sql_edits_countries RENAME TO queue_aside",
                                          "ALTER TABLE queue_aside RENAME TO SYNC_SQL_EDITS_COUNTRIES")
        defer { withExtendedLifetime(dir) {} }
        _ = try Snapshots.restore(url, into: data, deviceID: "DEV-A")
        #expect(try rows("SELECT name FROM sqlite_master WHERE lower(name) = 'sync_sql_edits_countries'", in: data) == ["sync_sql_edits_countries"])
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        let inPlace = try DatabaseQueue(path: data.databasePath).read { db in try SQLEditQueue.isInPlace(store.schema, in: db) }
        #expect(inPlace)
    }

    /// The collection tables are written from the records: a row that
    /// differs from its record in the file, and a unique index of the
    /// file's own on a collection table, are gone once restored.
    @Test func theCollectionTablesAreWrittenFromTheRecords() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            try Store.disableTriggers(db)
            try db.execute(sql: "UPDATE countries SET name = 'Drifted' WHERE id = 'x2'")
            try db.execute(sql: "CREATE UNIQUE INDEX countries_own ON countries(notes) WHERE id GLOB 'x*'")
        }
        #expect(try Snapshots.verify(url) == [])
        _ = try Snapshots.restore(url, into: data, deviceID: "DEV-A")
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        #expect(try rows("SELECT name FROM countries WHERE id = 'x2'", in: data) == ["Country 2"])
        #expect(try rows("SELECT name FROM sqlite_master WHERE name = 'countries_own'", in: data) == [])
        try client(data, "UPDATE countries SET notes = 'same' WHERE id = 'x1'", "UPDATE countries SET notes = 'same' WHERE id = 'x2'")
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 2)
    }

    /// Edits waiting and refused in the database a restore replaces are
    /// carried into the restored one, after the snapshot's own waiting
    /// edit and in the order they had: the waiting ones are taken up there,
    /// the refused one stays listed with its reason.
    @Test func theReplacedDatabasesEditsAreCarriedOver() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            try db.execute(sql: "UPDATE countries SET notes = 'from the snapshot' WHERE id = 'x3'")
        }
        do {
            let (store, _) = try data.openStore(deviceID: "DEV-A")
            try client(data, "UPDATE countries SET name = NULL WHERE id = 'x8'")
            let refused = try store.takeUpSQLEdits(author: "ana")
            #expect(refused.refusedCount == 1, "a name is required")
            try client(data, "UPDATE countries SET name = 'Live' WHERE id = 'x7'", "UPDATE countries SET notes = 'later' WHERE id = 'x9'")
        }
        let outcome = try Snapshots.restore(url, into: data, deviceID: "DEV-A")
        #expect(outcome.sqlEditsCarried == 3)
        #expect(outcome.sqlEditsNotCarried == nil)
        #expect(try rows("SELECT \"new id\" FROM sync_sql_edits_countries ORDER BY edit", in: data) == ["x3", "x8", "x7", "x9"])
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == 3)
        #expect(try store.record(ref("countries/x3"))?.scalars["notes"]?.value == .text("from the snapshot"))
        #expect(try store.record(ref("countries/x7"))?.scalars["name"]?.value == .text("Live"))
        #expect(try store.record(ref("countries/x9"))?.scalars["notes"]?.value == .text("later"))
        #expect(try rows("SELECT \"new id\" FROM sync_sql_edits_countries WHERE reason IS NOT NULL", in: data) == ["x8"])
        // The next SQL write is numbered past every carried edit.
        try client(data, "UPDATE countries SET notes = 'next' WHERE id = 'x1'")
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 1)
    }

    /// A queue that must be laid out again (a column it has that the schema
    /// lacks) while an analyst's view names a table that is missing: SQLite
    /// refuses any rename then, so the queue is made again without one, and
    /// the store opens.
    @Test func aViewOfAMissingTableDoesNotStopAQueueBeingLaidOutAgain() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url)
        _ = try data.openStore(deviceID: "DEV-A")
        try client(data, "UPDATE countries SET notes = 'waits' WHERE id = (SELECT min(id) FROM countries)")
        let queue = try DatabaseQueue(path: data.databasePath)
        try queue.write { db in
            try db.execute(sql: "CREATE VIEW mine AS SELECT * FROM a_table_since_dropped")
            try db.execute(sql: "ALTER TABLE sync_sql_edits_countries ADD COLUMN \"new gone\"")
            try db.execute(sql: "ALTER TABLE sync_sql_edits_countries ADD COLUMN \"old gone\"")
        }
        try queue.close()
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        #expect(try rows("SELECT CAST(count(*) AS TEXT) FROM sync_sql_edits_countries", in: data) == ["1"])
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 1)
    }
}
