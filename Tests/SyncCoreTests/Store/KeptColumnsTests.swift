import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// A column an analyst adds to a collection table makes it a layout syncd
/// does not declare; the next time syncd lays the tables out (a schema
/// change, from here or a peer; an open that must) it makes that table
/// again from the records (docs/sql.md). The analyst's cells are not lost
/// with it: they are copied into a table of their own first, and the log
/// says where.
@Suite("An analyst's columns, kept when a table is made again", .timeLimit(.minutes(2)))
struct KeptColumnsTests {
    /// Runs `sql` as another SQLite client would, on the store's file.
    func client(_ path: String, _ sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: sql) }
        try queue.close()
    }

    /// A seeded store in `dir` whose warnings are kept, its tables then
    /// changed by another client with `sql` (when given).
    func loggingStore(_ dir: TemporaryDirectory, altered sql: String? = nil) throws -> (Store, Warnings) {
        let warnings = Warnings()
        var options = Store.Options()
        options.logger = warnings.logger
        let store = try dir.store(options: options)
        try store.seed(SeedData.criticalMinerals())
        if let sql { try client(store.path, sql) }
        return (store, warnings)
    }

    func addField(_ name: String, to store: Store) throws {
        _ = try store.changeSchema(.addField(collection: "countries", field: name, type: "text", values: [], targets: [], description: nil), author: "ana")
    }

    func kept(_ warnings: Warnings) -> [String] { warnings.list.withLock { $0 }.filter { $0.contains("columns an analyst added") } }

    func keptScore(_ store: Store, in table: String = "countries_kept_columns", id: String = "cn") throws -> Int? {
        try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT score FROM \(table) WHERE id = ?", arguments: [id]) }
    }

    @Test func anAddedColumnsCellsAreCopiedAsideWhenASchemaChangeMakesTheTableAgain() throws {
        let dir = TemporaryDirectory()
        let (store, warnings) = try loggingStore(dir, altered: """
            ALTER TABLE countries ADD COLUMN score INTEGER;
            ALTER TABLE countries ADD COLUMN remark TEXT;
            UPDATE countries SET score = 7, remark = 'watch' WHERE id = 'cn';
            UPDATE countries SET remark = 'r\u{E9}sum\u{E9}' WHERE id = 'us';
            """)
        try addField("size", to: store)
        let columns = try store.pool.read { db in try db.columns(in: "countries").map(\.name) }
        #expect(columns.contains("size") && !columns.contains("score") && !columns.contains("remark"), "\(columns)")
        let logged = kept(warnings)
        #expect(logged.count == 1 && logged[0].contains("kept_in=countries_kept_columns") && logged[0].contains("rows=2"), "\(logged)")
        let rows = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, score, CAST(remark AS BLOB) FROM countries_kept_columns ORDER BY id")
        }
        #expect(rows.map { $0[0] as String } == ["cn", "us"])
        #expect(rows.map { $0[1] as Int? } == [7, nil])
        #expect(rows.map { [UInt8]($0[2] as Data) } == [Array("watch".utf8), Array("r\u{E9}sum\u{E9}".utf8)])
        #expect(try store.viewDrift().count == 0)

        // Again: a second copy never goes over the first.
        try client(store.path, "ALTER TABLE countries ADD COLUMN score INTEGER; UPDATE countries SET score = 8 WHERE id = 'cn';")
        try addField("tier", to: store)
        #expect(try [keptScore(store), keptScore(store, in: "countries_kept_columns_2")] == [7, 8])
        #expect(kept(warnings).count == 2)
    }

    @Test func anAddedColumnWithNoValueIsDroppedWithoutACopy() throws {
        let dir = TemporaryDirectory()
        let (store, warnings) = try loggingStore(dir, altered: "ALTER TABLE countries ADD COLUMN score INTEGER")
        try addField("size", to: store)
        #expect(kept(warnings).isEmpty)
        #expect(try store.pool.read { try $0.storedObject(named: "countries_kept_columns") } == nil)
    }

    /// A join by snapshot empties the collection tables and fills them from
    /// the peer's: an added column's cells are copied aside first.
    @Test func aJoinKeepsAnAddedColumn() throws {
        let dir = TemporaryDirectory()
        let (joiner, warnings) = try loggingStore(dir)
        let peer = try dir.store("peer.db")
        try peer.seed(SeedData.criticalMinerals())
        try client(joiner.path, "ALTER TABLE countries ADD COLUMN score INTEGER; UPDATE countries SET score = 5 WHERE id = 'cn';")
        let snapshot = URL(fileURLWithPath: dir.path("join.snapshot"))
        _ = try peer.takeJoinSnapshot(to: snapshot)
        let facts = try JoinSnapshotCheck.verify(path: snapshot.path, expectedReplica: try peer.replicaID, seed: peer.seed)
        _ = try joiner.adoptJoinSnapshot(at: snapshot.path, facts: facts, reason: "test")
        #expect(try joiner.digest() == peer.digest())
        #expect(try keptScore(joiner) == 5)
        #expect(kept(warnings).count == 1, "\(warnings.list.withLock { $0 })")
    }

    /// An index of someone's holding the name: the copy takes the next one.
    @Test func theCopyNeverGoesOverAnotherObjectsName() throws {
        let dir = TemporaryDirectory()
        let (store, warnings) = try loggingStore(dir, altered: """
            CREATE TABLE mine(x); CREATE INDEX countries_kept_columns ON mine(x);
            ALTER TABLE countries ADD COLUMN score INTEGER; UPDATE countries SET score = 4 WHERE id = 'cn';
            """)
        try addField("size", to: store)
        #expect(try keptScore(store, in: "countries_kept_columns_2") == 4)
        #expect(kept(warnings).count == 1)
    }

    /// A generated column is left out of the copy (its cells come from the
    /// others, and reading it may fail: here on a row whose text is not JSON).
    @Test func aGeneratedColumnIsLeftOutOfTheCopy() throws {
        let dir = TemporaryDirectory()
        let (store, warnings) = try loggingStore(dir, altered: """
            ALTER TABLE countries ADD COLUMN doc TEXT;
            UPDATE countries SET doc = '{"score": 1}' WHERE id = 'cn';
            UPDATE countries SET doc = 'not json' WHERE id = 'us';
            ALTER TABLE countries ADD COLUMN score INTEGER AS (json_extract(doc, '$.score'));
            """)
        try addField("size", to: store)
        let columns = try store.pool.read { db in try db.columns(in: "countries").map(\.name) }
        #expect(columns.contains("size") && !columns.contains("doc"))
        let docs = try store.pool.read { db in try String.fetchAll(db, sql: "SELECT doc FROM countries_kept_columns ORDER BY id") }
        #expect(docs == ["{\"score\": 1}", "not json"])
        let logged = kept(warnings)
        #expect(logged.count == 1 && logged[0].contains("columns=doc ") && logged[0].contains("rows=2"), "\(logged)")
        #expect(try store.viewDrift().count == 0)
    }

    /// A full disk during the copy fails the whole schema change (nothing
    /// dropped, the cells still in the table), never just the copy: it is
    /// tried again and copies them once there is room.
    @Test func aFullDiskFailsTheChangeNotTheCopyAlone() throws {
        let dir = TemporaryDirectory()
        let (store, warnings) = try loggingStore(dir)
        let note = String(repeating: "x", count: 3_000)
        try client(store.path, "ALTER TABLE countries ADD COLUMN remark TEXT; UPDATE countries SET remark = '\(note)' || id;")
        let pages = try store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
        try store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = \(pages + 2)") }
        #expect(throws: (any Error).self) { try addField("size", to: store) }
        let remarks = try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(remark) FROM countries") ?? 0 }
        #expect(remarks > 0)
        #expect(kept(warnings).isEmpty)
        try store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
        try addField("size", to: store)
        let copied = try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM countries_kept_columns") ?? 0 }
        #expect(copied == remarks)
        #expect(kept(warnings).count == 1)
    }

    /// A table another program made again without `id` (pandas
    /// `to_sql(if_exists="replace")`): its rows are copied with their rowid.
    @Test func aTableWithoutIdIsCopiedByRowid() throws {
        let dir = TemporaryDirectory()
        let (store, warnings) = try loggingStore(dir, altered: "DROP TABLE countries; CREATE TABLE countries(name TEXT, score INTEGER); INSERT INTO countries VALUES ('Somewhere', 9);")
        #expect(try store.restoreSQLCapture())
        let found = try store.pool.read { db in try Row.fetchOne(db, sql: "SELECT rowid, name, score FROM countries_kept_columns") }
        #expect(found?[1] as String? == "Somewhere" && found?[2] as Int? == 9)
        #expect(kept(warnings).count == 1)
        #expect(try store.viewDrift().count == 0)
    }

    /// An analyst's column that a field added later names: its cells are
    /// the analyst's, not the field's values; copied aside, and the column
    /// made again from the records.
    @Test func aColumnAFieldNamesLaterIsCopiedAndMadeAgain() throws {
        let dir = TemporaryDirectory()
        let (store, warnings) = try loggingStore(dir)
        try addField("tier", to: store)  // lays the tables out, recording the columns
        try client(store.path, "ALTER TABLE countries ADD COLUMN size TEXT; UPDATE countries SET size = 'large' WHERE id = 'cn';")
        try addField("size", to: store)
        let found = try store.pool.read { db in try String.fetchOne(db, sql: "SELECT size FROM countries_kept_columns WHERE id = 'cn'") }
        #expect(found == "large")
        let now = try store.pool.read { db in try String.fetchOne(db, sql: "SELECT size FROM countries WHERE id = 'cn'") }
        #expect(now == nil)
        #expect(try store.viewDrift().count == 0)
        #expect(kept(warnings).count == 1)
    }

    /// A field syncd laid a column out for, withheld since (a peer's
    /// concurrent definition of its type): the column goes with the
    /// rebuild, its values still in the records, and is not copied; a peer
    /// flipping the definition would otherwise fill the disk with copies.
    @Test func aWithheldFieldsColumnIsSyncdsAndNotCopied() throws {
        let dir = TemporaryDirectory()
        let (store, warnings) = try loggingStore(dir)
        try addField("size", to: store)
        try store.update(ref("countries/cn"), [.set("size", .text("large"))], author: "ana")
        let peer = ReplicaID.random()
        let definition = SlotKey(collection: SchemaEvolution.collection, record: "f.countries.size", field: "type")
        let version = Version(dot: Dot(replica: peer, counter: 1), hlc: HLC(millis: 1_000, logical: 0), author: "peer", value: .text("integer"))
        _ = try store.apply([SlotChange(key: definition, state: SlotState(versions: [version], context: VersionContext([(peer, 1)])))], from: peer)
        let columns = try store.pool.read { db in try db.columns(in: "countries").map(\.name) }
        #expect(!columns.contains("size"), "\(columns)")
        #expect(try store.pool.read { try $0.storedObject(named: "countries_kept_columns") } == nil)
        #expect(kept(warnings).isEmpty)
        #expect(try store.record(ref("countries/cn"))?.value("size") == .text("large"))
    }

    /// `syncctl check --repair` makes a table declared otherwise again: the
    /// analyst's added column is copied aside there too.
    @Test func aRepairKeepsAnAddedColumnToo() throws {
        let dir = TemporaryDirectory()
        // `check` names a table with a column syncd does not make.
        let (store, warnings) = try loggingStore(dir, altered: """
            ALTER TABLE countries ADD COLUMN score INTEGER;
            UPDATE countries SET score = 3 WHERE id = 'cn';
            """)
        _ = try store.rebuildCollectionTables(["countries"])
        #expect(try keptScore(store) == 3)
        #expect(kept(warnings).count == 1)
    }
}
