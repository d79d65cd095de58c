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
    func client(_ data: DataDirectory, _ statements: String...) throws { try client(data, statements) }

    func client(_ data: DataDirectory, _ statements: [String]) throws {
        let queue = try DatabaseQueue(path: data.databasePath)
        defer { try? queue.close() }
        for sql in statements { try queue.write { db in try db.execute(sql: sql) } }
    }

    /// A data directory whose snapshot holds an edit still waiting (x4's
    /// notes), and whose database then took the SQL statements `live`.
    func waitingInBoth(_ live: String...) throws -> (dir: TemporaryDirectory, data: DataDirectory, url: URL) {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            try db.execute(sql: "UPDATE countries SET notes = 'waiting in the snapshot' WHERE id = 'x4'")
        }
        do {
            _ = try data.openStore(deviceID: "DEV-A")
            try client(data, live)
        }
        return (dir, data, url)
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
        #expect(try store.record(ref("countries/x1"))?.scalar("name")?.value == .text("First"))
        #expect(try store.record(ref("countries/x2"))?.scalar("name")?.value == .text("Second"))
        // As a store of this build declares them.
        let fresh = TemporaryDirectory()
        _ = try DataDirectory(url: fresh.url).openStore(deviceID: "DEV-B")
        for name in ["sync_sql_edits_countries", "sync_sql_edits_countries_pending", SQLEditQueue.counterTable] {
            #expect(try declaration(name, in: data.databasePath) == (try declaration(name, in: DataDirectory(url: fresh.url).databasePath)), "\(name)")
        }
        #expect(try rows("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sync_sql_edits_countries'", in: data)
                == ["sync_sql_edits_countries_pending"])
    }

    /// An edit waiting in the snapshot, its number and the counter set near
    /// 2^63 − 1 or below it: once restored the edits are numbered 1, 2…,
    /// the counter past them, so the carried edits and the next SQL write
    /// are numbered after them (no overflow, no number in use). The
    /// snapshot's waiting edit is kept refused, not written again unasked
    /// (it may have been taken up since); `sql retry` writes it.
    @Test(arguments: [0, Int64.max - 1])
    func theSnapshotsEditsAreNumberedAfreshAndKeptRefused(counter: Int64) throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            try db.execute(sql: "UPDATE countries SET notes = 'waiting in the snapshot' WHERE id = 'x4'")
            try db.execute(sql: "UPDATE sync_sql_edits_countries SET edit = ?", arguments: [counter == 0 ? 7 : counter])
            try db.execute(sql: "UPDATE sync_sql_counter SET n = ?", arguments: [counter])
        }
        do {
            _ = try data.openStore(deviceID: "DEV-A")
            try client(data, "UPDATE countries SET notes = 'waiting here' WHERE id = 'x6'")
        }
        #expect(try Snapshots.restore(url, into: data, deviceID: "DEV-A").sqlEditsCarried == 1)
        #expect(try rows("SELECT CAST(edit AS TEXT) || ' ' || \"new id\" FROM sync_sql_edits_countries ORDER BY edit", in: data) == ["1 x4", "2 x6"])
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        try client(data, "UPDATE countries SET notes = 'written after' WHERE id = 'x5'")
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 2)
        #expect(try store.record(ref("countries/x6"))?.scalar("notes")?.value == .text("waiting here"))
        #expect(try store.record(ref("countries/x5"))?.scalar("notes")?.value == .text("written after"))
        #expect(try store.record(ref("countries/x4"))?.scalar("notes")?.value != .text("waiting in the snapshot"))
        let reason = try rows("SELECT reason FROM sync_sql_edits_countries WHERE edit = 1", in: data)
        #expect(reason.count == 1 && reason[0].contains("came with snapshot s.syncsnap") && reason[0].contains("syncctl sql retry 1"), "\(reason)")
        #expect(try store.retrySQLEdits([1], author: "ana").report.applied == 1)
        #expect(try store.record(ref("countries/x4"))?.scalar("notes")?.value == .text("waiting in the snapshot"))
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
    /// carried into the restored one, after the snapshot's own (kept
    /// refused) and in the order they had: the waiting ones are taken up
    /// there, the refused ones stay listed with their reasons.
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
        #expect(report.applied == 2)
        #expect(try store.record(ref("countries/x7"))?.scalar("name")?.value == .text("Live"))
        #expect(try store.record(ref("countries/x9"))?.scalar("notes")?.value == .text("later"))
        #expect(try rows("SELECT \"new id\" FROM sync_sql_edits_countries WHERE reason IS NOT NULL ORDER BY edit", in: data) == ["x3", "x8"])
        // The next SQL write is numbered past every carried edit.
        try client(data, "UPDATE countries SET notes = 'next' WHERE id = 'x1'")
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 1)
    }

    /// A snapshot of this very database taken while an edit waited and
    /// another stood refused: once restored each is there once, as it
    /// stands in the database (the waiting one taken up, not twice).
    @Test func anEditInBothTheSnapshotAndTheDatabaseIsThereOnce() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = dir.url.appendingPathComponent("s.syncsnap")
        do {
            let (store, _) = try data.openStore(deviceID: "DEV-A")
            for index in 0..<5 { try store.create(ref("countries/x\(index)"), [.set("name", .text("Country \(index)"))], author: "ana") }
            try client(data, "UPDATE countries SET name = NULL WHERE id = 'x1'")
            #expect(try store.takeUpSQLEdits(author: "ana").refusedCount == 1)
            try client(data, "UPDATE countries SET notes = 'waits' WHERE id = 'x2'")
            try Snapshots.create(from: store, to: url)
        }
        #expect(try Snapshots.restore(url, into: data, deviceID: "DEV-A").sqlEditsCarried == 2)
        #expect(try rows("SELECT \"new id\" FROM sync_sql_edits_countries ORDER BY edit", in: data) == ["x1", "x2"])
        #expect(try rows("SELECT \"new id\" FROM sync_sql_edits_countries WHERE reason IS NULL", in: data) == ["x2"])
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 1)
    }

    /// Edits waiting in the database that cannot be read (the page of its
    /// queue damaged): the restore is refused and changes nothing; allowed
    /// to abandon them, it restores and says so.
    @Test func editsThatCannotBeReadStopTheRestoreUnlessAbandoned() throws {
        let (dir, data, url) = try waitingInBoth("UPDATE countries SET notes = 'waits' WHERE id = 'x6'")
        defer { withExtendedLifetime(dir) {} }
        // The queue's one page overwritten, in the file itself (no WAL).
        let replica = { try DatabaseQueue(path: data.databasePath).read { db in try Data.fetchOne(db, sql: "SELECT value FROM sync_meta WHERE key = 'replica_id'") } }
        let (page, size) = try DatabaseQueue(path: data.databasePath).writeWithoutTransaction { db in
            _ = try Row.fetchAll(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
            return (try Int.fetchOne(db, sql: "SELECT rootpage FROM sqlite_master WHERE name = 'sync_sql_edits_countries'") ?? 0,
                    try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0)
        }
        let before = try replica()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: data.databasePath))
        try handle.seek(toOffset: UInt64((page - 1) * size))
        try handle.write(contentsOf: Data(repeating: 0xA5, count: size))
        try handle.close()
        #expect {
            try Snapshots.restore(url, into: data, deviceID: "DEV-A")
        } throws: { error in
            guard case SnapshotError.cannotCarrySQLEdits = error else { return false }
            return "\(error)".contains("--abandon-unreadable-sql-edits")
        }
        #expect(try replica() == before, "nothing changed")
        let outcome = try Snapshots.restore(url, into: data, deviceID: "DEV-A", abandonUnreadableSQLEdits: true)
        #expect(outcome.sqlEditsCarried == 0)
        #expect(outcome.sqlEditsNotCarried != nil)
        #expect(try replica() != before)
    }

    /// An edit number a client set at 2^63 − 1 is no reason to refuse: the
    /// carried edits are numbered afresh, in the order of their numbers.
    @Test func anEditNumberAClientSetAtTheTopIsCarriedAfresh() throws {
        let (dir, data, url) = try waitingInBoth("UPDATE countries SET notes = 'waits' WHERE id = 'x6'",
                                                 "UPDATE sync_sql_edits_countries SET edit = 9223372036854775807",
                                                 "UPDATE countries SET notes = 'waits too' WHERE id = 'x7'")
        defer { withExtendedLifetime(dir) {} }
        #expect(try Snapshots.restore(url, into: data, deviceID: "DEV-A").sqlEditsCarried == 2)
        #expect(try rows("SELECT CAST(edit AS TEXT) || ' ' || \"new id\" FROM sync_sql_edits_countries ORDER BY edit", in: data) == ["1 x4", "2 x7", "3 x6"],
                "in the order of their numbers, as the store takes them up")
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

/// An analyst's own table whose foreign key names a collection table
/// (helper-74): the store's connections do not enforce it, so a record a
/// peer deletes is deleted, and a restore (which writes the collection
/// tables again) neither fails nor empties the analyst's table.
@Suite("An analyst's foreign key to a collection table")
struct AnalystForeignKeyTests: EditedSnapshots {
    @Test func aRestoreNeitherFailsNorEmptiesTheAnalystsTable() throws {
        for action in ["NO ACTION", "CASCADE"] {
            let dir = TemporaryDirectory()
            let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
            let url = try snapshot(in: dir, data: data) { db in
                try db.execute(sql: "CREATE TABLE my_notes(country TEXT REFERENCES countries(id) ON DELETE \(action), note TEXT)")
                try db.execute(sql: "INSERT INTO my_notes VALUES ('x1', 'mine')")
            }
            _ = try Snapshots.restore(url, into: data, deviceID: "DEV-A")
            let notes = try DatabaseQueue(path: data.databasePath).read { db in try String.fetchAll(db, sql: "SELECT note FROM my_notes") }
            #expect(notes == ["mine"], "\(action)")
        }
    }

    @Test func aRecordDeletedIsDeletedWhateverTheAnalystsKeySays() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url)
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        try store.create(ref("countries/x1"), [.set("name", .text("One"))], author: "ana")
        let client = try DatabaseQueue(path: data.databasePath)
        try client.write { db in
            try db.execute(sql: "CREATE TABLE my_notes(country TEXT REFERENCES countries(id), note TEXT)")
            try db.execute(sql: "INSERT INTO my_notes VALUES ('x1', 'mine')")
        }
        try client.close()
        try store.delete(ref("countries/x1"), author: "ana")
        #expect(try store.record(ref("countries/x1"))?.exists == false)
    }
}
