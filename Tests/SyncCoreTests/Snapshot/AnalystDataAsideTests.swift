import Foundation
import GRDB
import Logging
import Testing
@testable import SyncCore
import TestSupport

/// A database kept aside by a restore or a join is merged back and removed
/// after the next sync; what it holds of the analyst's own (tables, views,
/// cells of added columns: no slots, so no merge brings them) is never
/// removed with it (replication-model §7, "The kept-aside database").
@Suite("Analyst's data in a database kept aside")
struct AnalystDataAsideTests {
    /// Runs `sql` as the analyst's `sqlite3` session would.
    func analyst(_ data: DataDirectory, _ sql: String) throws {
        let queue = try DatabaseQueue(path: data.databasePath)
        try queue.write { try $0.execute(sql: sql) }
        try queue.close()
    }

    func firstCountry(_ data: DataDirectory) throws -> String {
        let queue = try DatabaseQueue(path: data.databasePath)
        defer { try? queue.close() }
        return try queue.read { try String.fetchOne($0, sql: "SELECT id FROM countries ORDER BY id LIMIT 1") } ?? ""
    }

    func files(_ data: DataDirectory, _ prefix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: data.path).filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// A data directory after a restore and the fold that follows its next sync.
    struct Restored {
        let dir: TemporaryDirectory
        let data: DataDirectory
        let country: String
        let outcome: Snapshots.RestoreOutcome
        let store: Store
        let warnings = Warnings()
        var logged: [String] { warnings.list.withLock { $0 } }
        func fold() { Snapshots.mergeAndRemoveKeptAside(into: store, logger: warnings.logger) }
    }

    /// The analyst's SQL `before` (given the first country's id), a
    /// snapshot, `afterSnapshot` on the store, the analyst's SQL `after`,
    /// then a restore of the snapshot and the fold.
    func restoreAndFold(before: (String) -> String = { _ in "" }, afterSnapshot: (Store) throws -> Void = { _ in },
                        after: (String) -> String = { _ in "" }) throws -> Restored {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let snapshot = dir.url.appendingPathComponent("s.syncsnap")
        do { _ = try data.openStore(deviceID: "DEV-A") }
        let country = try firstCountry(data)
        if !before(country).isEmpty { try analyst(data, before(country)) }
        do {
            let store = try Store(path: data.databasePath, deviceID: "DEV-A")
            try Snapshots.create(from: store, to: snapshot)
            try afterSnapshot(store)
        }
        if !after(country).isEmpty { try analyst(data, after(country)) }
        let outcome = try Snapshots.restore(snapshot, into: data, deviceID: "DEV-A")
        let restored = Restored(dir: dir, data: data, country: country, outcome: outcome, store: try Store(path: data.databasePath, deviceID: "DEV-A"))
        restored.fold()
        return restored
    }

    /// Every table a store makes (SQL edits taken up included), other than
    /// the collection tables, is known as syncd's: none is compared as the
    /// analyst's, so none keeps a copy for ever.
    @Test func everyTableAStoreMakesIsKnownAsSyncds() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        do { _ = try data.openStore(deviceID: "DEV-A") }
        let country = try firstCountry(data)
        try analyst(data, "UPDATE countries SET notes = 'by sql' WHERE id = '\(country)'")
        let store = try Store(path: data.databasePath, deviceID: "DEV-A")
        _ = try store.takeUpSQLEdits(author: "ana")
        let tables = try store.read { db in
            (try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'"), try CollectionViews.tablesMade(in: db))
        }
        let unknown = tables.0.filter { name in !AnalystDataAside.isSyncdTable(name) && !tables.1.contains(name) }
        #expect(unknown.isEmpty, "\(unknown)")
    }

    @Test func tablesViewsAndCellsMadeAfterTheSnapshotAreKeptWithTheCopy() throws {
        let restored = try restoreAndFold(after: { country in """
            CREATE TABLE my_notes(id TEXT, note TEXT);
            INSERT INTO my_notes VALUES ('\(country)', 'call the ministry');
            CREATE VIEW top_countries AS SELECT id FROM countries;
            CREATE TRIGGER stamp_notes AFTER INSERT ON my_notes BEGIN SELECT 1; END;
            ALTER TABLE countries ADD COLUMN score INTEGER;
            UPDATE countries SET score = 7 WHERE id = '\(country)';
            """ })
        let data = restored.data
        #expect(try files(data, Snapshots.keptAsidePrefix).isEmpty)
        let kept = try files(data, Snapshots.analystDataAsidePrefix)
        #expect(kept.count == 1, "\(kept)")
        let logged = restored.logged
        #expect(logged.count == 1, "\(logged)")
        for part in ["kept_as=\(kept.first ?? "?")", "table my_notes: 1 row(s)", "view top_countries", "trigger stamp_notes", "column countries.score: 1 cell(s)"] {
            #expect(logged.first?.contains(part) == true, "\(part) in \(logged)")
        }
        // One self-contained file, with everything the analyst made.
        let path = data.url.appendingPathComponent(kept.first ?? "?").path
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        let queue = try DatabaseQueue(path: path)
        let (note, score, viewed) = try queue.read { db in
            (try String.fetchOne(db, sql: "SELECT note FROM my_notes"),
             try Int.fetchOne(db, sql: "SELECT score FROM countries WHERE id = ?", arguments: [restored.country]),
             try Int.fetchOne(db, sql: "SELECT count(*) FROM top_countries") ?? 0)
        }
        try queue.close()
        #expect(note == "call the ministry")
        #expect(score == 7)
        #expect(viewed > 0)
        // Never merged again, never removed by a later fold.
        restored.fold()
        #expect(try files(data, Snapshots.analystDataAsidePrefix) == kept)
        #expect(restored.logged.count == 1)
    }

    /// A table of the analyst's that the snapshot holds as it stands, and a
    /// view they never changed: the live database has them, the copy goes.
    @Test func whatTheRestoredDatabaseStillHoldsDoesNotKeepTheCopy() throws {
        let restored = try restoreAndFold(before: { _ in """
            CREATE TABLE my_notes(id TEXT, note TEXT);
            INSERT INTO my_notes VALUES ('x', 'kept in the snapshot');
            CREATE VIEW top_countries AS SELECT id FROM countries;
            """ }, afterSnapshot: { store in
            // A record written after the snapshot still comes back.
            try store.create(ref("countries/xx"), [.set("name", .text("unsynced"))], author: "ana")
        })
        #expect(try restored.store.record(ref("countries/xx"))?.value("name") == .text("unsynced"))
        #expect(try files(restored.data, Snapshots.keptAsidePrefix).isEmpty)
        #expect(try files(restored.data, Snapshots.analystDataAsidePrefix).isEmpty)
        #expect(restored.logged.isEmpty)
    }

    /// Rows the analyst added to their table after the snapshot: one that
    /// looks like a row the snapshot holds and is other bytes, and a second
    /// copy of one it holds (a log's repeated line): both are missing, and
    /// they keep the copy.
    @Test func oneRowAddedAfterTheSnapshotKeepsTheCopy() throws {
        // Text that looks the same and is not: "é" as e + U+0301 beside the precomposed one.
        let restored = try restoreAndFold(before: { _ in "CREATE TABLE my_notes(id TEXT, note TEXT); INSERT INTO my_notes VALUES ('x', 'old')" },
                                          after: { _ in "INSERT INTO my_notes VALUES ('x', 'cafe' || char(769)); INSERT INTO my_notes VALUES ('x', 'old')" })
        #expect(try files(restored.data, Snapshots.analystDataAsidePrefix).count == 1)
        #expect(restored.logged.first?.contains("table my_notes: 2 row(s) the live database lacks") == true, "\(restored.logged)")
    }

    /// A snapshot whose collection table held a column the analyst added:
    /// the restore makes that table again from the records, and first copies
    /// the column's cells into `countries_kept_columns` of the restored
    /// database; the database it replaced (which held the same cell) goes.
    @Test func aSnapshotsAddedColumnIsCopiedAsideByTheRestore() throws {
        let restored = try restoreAndFold(before: { country in
            "ALTER TABLE countries ADD COLUMN score INTEGER; UPDATE countries SET score = 7 WHERE id = '\(country)'"
        })
        #expect(restored.outcome.keptColumns.map(\.table) == ["countries_kept_columns"])
        #expect(restored.outcome.keptColumns.first?.rows == 1)
        let (score, columns) = try restored.store.read { db in
            (try Int.fetchOne(db, sql: "SELECT score FROM countries_kept_columns WHERE id = ?", arguments: [restored.country]),
             try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('countries')"))
        }
        #expect(score == 7)
        #expect(!columns.contains("score"))
        #expect(try files(restored.data, Snapshots.keptAsidePrefix).isEmpty)
        #expect(try files(restored.data, Snapshots.analystDataAsidePrefix).isEmpty, "\(restored.logged)")
    }

    /// A column declared `COLLATE NOCASE` takes 'Paris' and 'paris' for one
    /// value; the comparison does not: the copy's spelling is kept.
    @Test func aRowThatDiffersOnlyInCaseUnderNocaseIsMissing() throws {
        let restored = try restoreAndFold(before: { _ in "CREATE TABLE places(name TEXT COLLATE NOCASE, n INTEGER); INSERT INTO places VALUES ('Paris', 1)" },
                                          after: { _ in "UPDATE places SET name = 'paris'" })
        #expect(try files(restored.data, Snapshots.analystDataAsidePrefix).count == 1)
        #expect(restored.logged.first?.contains("table places: 1 row(s) the live database lacks") == true, "\(restored.logged)")
    }

    /// A table the comparison cannot read (1,001 columns: two values each
    /// pass SQLite's 2,000) counts as missing for good: the copy is kept for
    /// the analyst, not compared again after every sync.
    @Test func aTableThatCannotBeComparedKeepsTheCopyForTheAnalyst() throws {
        let columns = (0...1_000).map { "c\($0)" }.joined(separator: ", ")
        let restored = try restoreAndFold(before: { _ in "CREATE TABLE wide(\(columns))" }, after: { _ in "INSERT INTO wide(c0) VALUES (1)" })
        #expect(try files(restored.data, Snapshots.keptAsidePrefix).isEmpty)
        #expect(try files(restored.data, Snapshots.analystDataAsidePrefix).count == 1)
        #expect(restored.logged.first?.contains("table wide: could not be compared with the live database") == true, "\(restored.logged)")
    }

    /// A row an SQL client inserted, given a cell of the analyst's own
    /// column before syncd took the insert up: writing the new record's row
    /// sets syncd's columns and keeps that cell (found by the simulator,
    /// seed 153, when the row was written whole).
    @Test func aRowInsertedWithSQLKeepsItsAddedCellWhenItsRecordIsWritten() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        do { _ = try data.openStore(deviceID: "DEV-A") }
        try analyst(data, "INSERT INTO countries(id, name) VALUES ('zz', 'New')")
        try analyst(data, "ALTER TABLE countries ADD COLUMN score INTEGER; UPDATE countries SET score = 9 WHERE id = 'zz'")
        let store = try Store(path: data.databasePath, deviceID: "DEV-A")
        _ = try store.takeUpSQLEdits(author: "ana")
        #expect(try store.record(ref("countries/zz"))?.value("name") == .text("New"))
        let score = try store.read { try Int.fetchOne($0, sql: "SELECT score FROM countries WHERE id = 'zz'") }
        #expect(score == 9)
        #expect(try store.viewDrift().count == 0)
    }

    /// A join adopts in place: the analyst's tables stay live, and the
    /// cells of a column they added are copied into `countries_kept_columns`,
    /// so the copy kept aside holds nothing they lack and goes.
    @Test func aJoinKeepsTheAnalystsDataLiveAndTheCopyGoes() throws {
        let dir = TemporaryDirectory()
        let peer = try dir.store("peer.db")
        try peer.create(ref("countries/zz"), [.set("name", .text("from the peer"))], author: "bo")
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        do { _ = try data.openStore(deviceID: "DEV-A") }
        let country = try firstCountry(data)
        try analyst(data, """
            CREATE TABLE my_notes(id TEXT, note TEXT);
            INSERT INTO my_notes VALUES ('\(country)', 'mine');
            ALTER TABLE countries ADD COLUMN score INTEGER;
            UPDATE countries SET score = 7 WHERE id = '\(country)';
            """)
        let store = try Store(path: data.databasePath, deviceID: "DEV-A")
        let url = dir.url.appendingPathComponent("join.syncsnap")
        _ = try peer.takeJoinSnapshot(to: url)
        let facts = try JoinSnapshotCheck.verify(path: url.path, expectedReplica: try peer.replicaID, seed: store.seed)
        _ = try store.adoptJoinSnapshot(at: url.path, facts: facts, reason: "test")
        #expect(try files(data, Snapshots.keptAsidePrefix).count == 1)
        let warnings = Warnings()
        Snapshots.mergeAndRemoveKeptAside(into: store, logger: warnings.logger)
        #expect(try files(data, Snapshots.keptAsidePrefix).isEmpty)
        #expect(try files(data, Snapshots.analystDataAsidePrefix).isEmpty)
        #expect(!warnings.list.withLock { $0 }.contains { $0.contains("kept_as") }, "\(warnings.list.withLock { $0 })")
        let (note, score) = try store.read { db in
            (try String.fetchOne(db, sql: "SELECT note FROM my_notes"),
             try Int.fetchOne(db, sql: "SELECT score FROM countries_kept_columns WHERE id = ?", arguments: [country]))
        }
        #expect(note == "mine")
        #expect(score == 7)
    }
}
