import Foundation
import GRDB
import PropertyBased
import Testing
@testable import SyncCore
import SyncSimulation
import TestSupport

/// Joining by snapshot through real stores on disk (replication-model §4.6):
/// the snapshot a peer takes is checked slot by slot, adopted in one
/// transaction under a new replica id, and the joiner then syncs with a
/// third replica without reading anything twice; a damaged snapshot is
/// refused whatever byte is changed.
@Suite("Join by snapshot through the store", .serialized, .timeLimit(.minutes(5)))
struct JoinSnapshotTests {
    /// Pulls like the daemon does; returns the slots received.
    @discardableResult
    static func pullCounting(into target: Store, from source: Store) throws -> Int {
        let sourceID = try source.replicaID, targetID = try target.replicaID
        var slots = 0
        while true {
            let cursor = try target.cursor(for: sourceID)
            let batch = try source.changes(since: cursor, maxCount: 500, maxBytes: 1 << 20, for: targetID)
            if batch.cursor == cursor { return slots }
            slots += batch.changes.count
            try target.apply(batch.changes, from: sourceID, cursor: batch.cursor, peerHighest: batch.highest)
            if !batch.hasMore { return slots }
        }
    }

    /// A peer with the seed, 300 more agreements, an added field with data,
    /// and changes pulled from a third replica `r`.
    /// `deferredHistory: false` writes as builds before format 5 did.
    static func peer(in dir: TemporaryDirectory, deferredHistory: Bool = true) throws -> (p: Store, r: Store, rReadOfP: Int) {
        try FileManager.default.createDirectory(atPath: dir.path("p"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.path("r"), withIntermediateDirectories: true)
        var options = Store.Options()
        options.deferFirstHistory = deferredHistory
        let p = try dir.store("p/data.db", options: options), r = try dir.store("r/data.db", options: options)
        try p.seed(SeedData.criticalMinerals())
        try pullCounting(into: r, from: p)
        try p.changeSchema(.addField(collection: "agreements", field: "value_usd", type: "decimal", values: [], targets: [], description: nil), author: "ana")
        for index in 0..<120 {
            try p.create(ref("agreements/join-\(index)"), [.set("title", .text("Agreement \(index)")), .set("status", .text("active")),
                                                         .set("value_usd", .text("\(index).5"))], author: "ana")
        }
        try r.create(ref("agreements/from-r"), [.set("title", .text("Written on r")), .set("status", .text("negotiating"))], author: "rui")
        try pullCounting(into: p, from: r)
        // What r reads of p after p read r: p's writes, which r would pass on to anyone.
        let rReadOfP = try pullCounting(into: r, from: p)
        return (p, r, rReadOfP)
    }

    static func snapshot(of store: Store, in dir: TemporaryDirectory, name: String = "snap.syncsnap") throws -> String {
        let url = URL(fileURLWithPath: dir.path(name))
        _ = try store.takeJoinSnapshot(to: url)
        return url.path
    }

    /// A new joiner that checked and adopted the snapshot of `p` at `path`.
    static func joined(from p: Store, snapshot path: String, in dir: TemporaryDirectory) throws -> Store {
        let j = try joiner(in: dir)
        let replica = try p.replicaID, seed = j.seed
        // As the daemon does: the check beside the copy.
        _ = try j.adoptJoinSnapshot(at: path, reason: { _ in "test" }) {
            try JoinSnapshotCheck.verify(path: path, expectedReplica: replica, seed: seed)
        }
        return j
    }

    static func joiner(in dir: TemporaryDirectory, _ name: String = "j") throws -> Store {
        try FileManager.default.createDirectory(atPath: dir.path(name), withIntermediateDirectories: true)
        let j = try dir.store("\(name)/data.db")
        try j.seed(SeedData.criticalMinerals())
        return j
    }

    @Test func aJoinedReplicaEndsEqualAndReadsNothingTwice() throws {
        let dir = TemporaryDirectory()
        let (p, r, rReadOfP) = try Self.peer(in: dir)
        let j = try Self.joiner(in: dir)
        let before = try j.replicaID
        let path = try Self.snapshot(of: p, in: dir)
        let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: j.seed)
        #expect(facts.digest == (try p.digest()))
        #expect(facts.highestSeq == (try p.highestSeq()))
        let adoption = try j.adoptJoinSnapshot(at: path, facts: facts, reason: "test")
        // Equal state, tables and schema; a replica id of its own.
        #expect(try j.digest() == p.digest())
        #expect(try SchemaReplicationTests.tables(j) == SchemaReplicationTests.tables(p))
        #expect(j.schema.hash == p.schema.hash)
        #expect(try j.viewDrift().count == 0)
        #expect(try j.replicaID == adoption.replica)
        #expect(adoption.replica != (try p.replicaID) && adoption.replica != before && adoption.previous == before)
        #expect(try j.cursor(for: p.replicaID) == p.highestSeq())
        #expect(try j.cursor(for: r.replicaID) == p.cursor(for: r.replicaID))
        #expect(try j.joinOrigin() == JoinOrigin(replica: p.replicaID, seq: p.highestSeq()))
        // Nothing to pull from p; from r nothing that p had read of it (only
        // what r read of p since, as any replica would be sent it).
        #expect(try Self.pullCounting(into: j, from: p) == 0)
        let fromR = try Self.pullCounting(into: j, from: r)
        #expect(fromR <= rReadOfP && rReadOfP < 3_000, "\(fromR) slots read from r")
        #expect(try j.digest() == p.digest())
        // r starts reading j where its origin's feed was read already.
        let origin = try #require(try j.joinOrigin())
        #expect(try r.startCursor(for: j.replicaID, joinedFrom: origin) == min(origin.seq, try r.cursor(for: p.replicaID)))
        #expect(try Self.pullCounting(into: r, from: j) == 0)
        // p, the origin, starts at the seq of its own snapshot.
        #expect(try p.startCursor(for: j.replicaID, joinedFrom: origin) == origin.seq)
        #expect(try Self.pullCounting(into: p, from: j) == 0)
        // j's own write carries j's new id only, and reaches both, read once.
        try j.create(ref("agreements/from-j"), [.set("title", .text("Written on j")), .set("status", .text("active"))], author: "jo")
        let written = try j.history(ref("agreements/from-j"))
        #expect(!written.isEmpty && written.allSatisfy { $0.version.dot.replica == adoption.replica })
        #expect(try Self.pullCounting(into: r, from: j) == 3)
        #expect(try Self.pullCounting(into: p, from: j) == 3)
        #expect(try p.digest() == j.digest() && r.digest() == j.digest())
        // The database as it was is kept aside and merges back to nothing new.
        #expect(FileManager.default.fileExists(atPath: adoption.keptAside.path))
        // Marked whole, under the old id: a stale journal a power cut left beside it is never rolled back.
        guard case .store(adoption.previous, _, complete: true) = Store.probe(adoption.keptAside.path) else {
            Issue.record("\(Store.probe(adoption.keptAside.path))"); return
        }
        Snapshots.mergeAndRemoveKeptAside(into: j, logger: j.options.logger)
        #expect(!FileManager.default.fileExists(atPath: adoption.keptAside.path))
        #expect(try j.digest() == p.digest())
    }

    /// A replica far behind that wrote offline: its writes are kept aside and
    /// come back after the join, and travel on.
    @Test func offlineWritesOfAReplicaFarBehindComeBack() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try Self.peer(in: dir)
        let j = try Self.joiner(in: dir)
        try j.create(ref("agreements/offline"), [.set("title", .text("Written on the plane")), .set("status", .text("proposed"))], author: "jo")
        try j.update(ref("agreements/us-cn-trade-truce-2025"), [.set("title", .text("Renamed offline"))], author: "jo")
        let path = try Self.snapshot(of: p, in: dir)
        let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: j.seed)
        _ = try j.adoptJoinSnapshot(at: path, facts: facts, reason: "test")
        #expect(try j.record(ref("agreements/offline")) == nil)
        Snapshots.mergeAndRemoveKeptAside(into: j, logger: j.options.logger)
        #expect(try j.record(ref("agreements/offline")) != nil)
        try Self.pullCounting(into: p, from: j)
        #expect(try p.digest() == j.digest())
        #expect(try SchemaReplicationTests.tables(j) == SchemaReplicationTests.tables(p))
    }

    /// Hostile edits of a snapshot, each refused with its reason.
    @Test(arguments: [
        ("UPDATE sync_records SET slots = substr(slots, 1, length(slots) - 1) || x'00' WHERE id = (SELECT max(id) FROM sync_records)", "other types"),
        ("UPDATE sync_records SET slots = CAST(substr(slots, 1, length(slots) - 1) || x'00' AS BLOB) WHERE id = (SELECT max(id) FROM sync_records)", "agreements/"),
        ("UPDATE sync_cursors SET peer_highest = 'many'", "peer highest"),
        ("DELETE FROM sync_feed WHERE seq = (SELECT max(seq) FROM sync_feed)", "feed"),
        ("UPDATE sync_buckets SET digest = zeroblob(16) WHERE bucket = (SELECT min(bucket) FROM sync_buckets)", "bucket"),
        ("UPDATE agreements SET title = 'Planted' WHERE id = 'join-7'", "table row"),
        ("UPDATE sync_meta SET value = 'another-team' WHERE key = 'dataset'", "dataset"),
        ("UPDATE sync_meta SET value = zeroblob(16) WHERE key = 'replica_id'", "replica"),
        ("UPDATE sync_meta SET value = 'x' WHERE key = 'schema_hash'", "schema"),
        ("UPDATE sync_meta SET value = \(StoreTables.formatVersion + 1) WHERE key = 'format'", "storage format is \(StoreTables.formatVersion + 1)"),
        ("UPDATE sync_records SET conflicted = 1 WHERE id = 3", "conflicted"),
        ("UPDATE sync_meta SET value = 4 WHERE key = 'format'", "history is deferred"),
        ("INSERT OR REPLACE INTO sync_meta(key, value) VALUES ('deferred_history_since', (SELECT max(seq) FROM sync_feed))", "at or below the file's mark"),
        // A listed problem whose names are bytes, not text: every later open of the joiner rechecks the table.
        ("INSERT INTO sync_schema_problems(collection, record, field, element, problem, peer, seen_at) VALUES (x'ff00', 'a', 'b', '', 'p', NULL, 1)", "schema problem row"),
        // A listed problem naming a slot past the limit on a name (the recheck reads names whole).
        ("INSERT INTO sync_schema_problems(collection, record, field, element, problem, peer, seen_at) VALUES ('countries', 'cn', hex(zeroblob(600)), '', 'p', NULL, 1)", "past the limit on a name"),
        // More listed problems than slots: each is rechecked inside the adoption's transaction.
        ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000) INSERT INTO sync_schema_problems(collection, record, field, element, problem, peer, seen_at) SELECT 'countries', 'p' || x, 'name', '', 'p', NULL, 1 FROM n", "listed schema problems for"),
        ("ALTER TABLE sync_feed RENAME TO feed_rows; CREATE VIEW sync_feed AS SELECT * FROM feed_rows", "sync_feed"),
    ])
    func aChangedSnapshotIsRefused(_ edit: (sql: String, reason: String)) throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try Self.peer(in: dir)
        let path = try Self.snapshot(of: p, in: dir)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try Store.disableTriggers(db)
            try db.execute(sql: edit.sql)
        }
        try queue.close()
        let error = #expect(throws: JoinSnapshotRefusal.self) { try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: p.seed) }
        #expect(error?.reason.contains(edit.reason) == true, "\(error?.reason ?? "")")
    }

    /// Listed schema problems as the store writes them (one sent by a peer,
    /// one from a batch without a peer) pass the check and are taken over.
    /// Rows no store writes in a snapshot — names that are not UTF-8 (GRDB
    /// would mend them, so no statement by name matched), slots the
    /// snapshot does not hold (one in a record with real problems), blaming
    /// some peer — are dropped by the adoption's recheck, not listed at the
    /// joiner; a stale reason is brought up to date; and rows of a record
    /// whose row does not decode are left alone, the store still opening.
    @Test func listedSchemaProblemsAreTakenOver() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try Self.peer(in: dir)
        let other = ReplicaID(high: 9, low: 9)
        for (index, sender) in [other, nil].enumerated() {
            let version = Version(dot: Dot(replica: other, counter: UInt64(index + 1)), hlc: HLC(millis: 1_000, logical: 0), author: "x", value: .text("?"))
            let change = SlotChange(key: SlotKey(collection: "countries", record: "zz", field: "unknown_\(index)"), state: SlotMerge.write(version, over: .empty))
            _ = try p.apply([change], from: sender)
        }
        #expect(try p.schemaProblems().map(\.peer) == [other, nil])
        let path = try Self.snapshot(of: p, in: dir)
        let planted = ["CAST(x'636fff' AS TEXT), 'a', 'b', ''", "'countries', 'nowhere', 'name', ''", "'countries', 'zz', 'nickname', ''",
                       "'countries', 'cn', 'nickname', ''"]
        let snapshot = try DatabaseQueue(path: path)
        try snapshot.write { db in
            for values in planted {
                try db.execute(sql: "INSERT INTO sync_schema_problems(collection, record, field, element, problem, peer, seen_at) VALUES (\(values), 'p', zeroblob(16), 1)")
            }
            try db.execute(sql: "UPDATE sync_schema_problems SET problem = 'stale' WHERE field = 'unknown_0'")
            // Enough rows naming absent slots of held records for the recheck to read several pages.
            try db.execute(sql: """
                WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < \(SchemaProblemRows.recheckPage * 2 + 10))
                INSERT INTO sync_schema_problems(collection, record, field, element, problem, peer, seen_at)
                SELECT 'countries', 'cn', 'nick_' || x, '', 'p', NULL, 1 FROM n
                """)
        }
        try snapshot.close()
        let j = try Self.joined(from: p, snapshot: path, in: dir)
        #expect(try j.schemaProblems().map(\.key.field) == ["unknown_0", "unknown_1"])
        let queue = try DatabaseQueue(path: dir.path("j/data.db"))
        #expect(try queue.read { try String.fetchAll($0, sql: "SELECT field FROM sync_schema_problems ORDER BY field") } == ["unknown_0", "unknown_1"])
        #expect(try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sync_schema_problems WHERE problem = 'stale'") } == 0,
                "the reason is the current one (updated by raw names)")

        // Rows of other types (left by a join before the check refused
        // them) go at the next recheck; those of a record whose row does not
        // decode stay, and the recheck does not fail.
        for damage in ["x'05'", "5"] {
            try queue.write { db in
                try db.execute(sql: "INSERT OR REPLACE INTO sync_schema_problems(collection, record, field, element, problem, peer, seen_at) VALUES (CAST('countries' AS BLOB), 'a', 'b', '', 'p', NULL, 1)")
                try db.execute(sql: "UPDATE sync_records SET slots = \(damage) WHERE collection = 'countries' AND record = 'zz'")
            }
            try queue.write { try Store.recheckSchemaProblems(j.schema, in: $0) }
            #expect(try queue.read { try String.fetchAll($0, sql: "SELECT field FROM sync_schema_problems ORDER BY field") } == ["unknown_0", "unknown_1"],
                    "a record row of \(damage)")
        }
        try queue.close()
    }

    /// Values of another type than their field's, received from a peer (a
    /// schema problem: a newer peer, a field retyped by a concurrent
    /// definition): the table row shows them as SQLite stores them in the
    /// column (an integer or a boolean in a TEXT column as its decimal
    /// text), the view reads as not drifted, and a snapshot holding them is
    /// checked and joined, not refused.
    @Test func valuesOfAnotherTypeThanTheirFieldAreJoined() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try Self.peer(in: dir)
        let other = ReplicaID(high: 9, low: 7)
        try p.changeSchema(.addField(collection: "countries", field: "rank", type: "integer", values: [], targets: [], description: nil), author: "ana")
        // Text in an INTEGER column: SQLite keeps " 12 " and "3.0e+5" as numbers, "abc" as text.
        let records: [(String, [(String, Value)])] = [
            ("typed", [("name", .int(42)), ("region", .bool(true)), ("notes", .int(-7)), ("rank", .text(" 12 "))]),
            ("typed-2", [("rank", .text("3.0e+5"))]),
            ("typed-3", [("rank", .text("abc"))]),
        ]
        var counter: UInt64 = 0
        for (record, fields) in records {
            let changes = ([(SlotKey.existsField, Value.bool(true))] + fields).map { field, value in
                counter += 1
                let version = Version(dot: Dot(replica: other, counter: counter), hlc: HLC(millis: 1_000, logical: 0), author: "x", value: value)
                return SlotChange(key: SlotKey(collection: "countries", record: record, field: field), state: SlotMerge.write(version, over: .empty))
            }
            _ = try p.apply(changes, from: other)
        }
        #expect(try p.schemaProblems().count == 6)
        let drift = try p.viewDrift()
        #expect(drift.count == 0, "\(drift.drift)")
        let path = try Self.snapshot(of: p, in: dir)
        let j = try Self.joined(from: p, snapshot: path, in: dir)
        #expect(try j.digest() == p.digest())
        #expect(try j.viewDrift().count == 0)
    }

    /// A snapshot of a peer of protocol 1.5 is storage format 3 (no slot
    /// carries an origin): it is read as it is and adopted.
    @Test func aFormatThreeSnapshotIsAdopted() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try Self.peer(in: dir, deferredHistory: false)
        let path = try Self.snapshot(of: p, in: dir)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "UPDATE sync_meta SET value = 3 WHERE key = 'format'") }
        try queue.close()
        let j = try Self.joiner(in: dir)
        let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: j.seed)
        #expect(facts.digest == (try p.digest()))
        #expect(facts.deferredHistorySince == facts.highestSeq, "no slot of a format-3 file defers its history")
        _ = try j.adoptJoinSnapshot(at: path, facts: facts, reason: "test")
        #expect(try p.digest() == j.digest())
        #expect(try j.read { try Int.fetchOne($0, sql: "SELECT value FROM sync_meta WHERE key = 'format'") } == StoreTables.formatVersion)
        #expect(try j.read { try $0.deferredHistorySince() } == Int64(facts.highestSeq), "the feed walk stops where the peer's did")
        // Every version once in the joiner's history, as in the peer's.
        for name in ["agreements/join-7", "agreements/from-r", "countries/cn"] {
            #expect(try j.history(ref(name)).map(\.version.dot) == p.history(ref(name)).map(\.version.dot))
        }
    }

    /// A collection table declared otherwise in the snapshot (its columns in
    /// another order, as replicas that learned fields in another order have
    /// them) passes the check, and its rows are written from the records here.
    @Test func aTableDeclaredOtherwiseIsWrittenFromTheRecords() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try Self.peer(in: dir)
        let path = try Self.snapshot(of: p, in: dir)
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try Store.disableTriggers(db)
            let columns = try db.columns(in: "countries").map(\.name)
            let reordered = columns.reversed().map(\.quotedDatabaseIdentifier).joined(separator: ", ")
            try db.execute(sql: "CREATE TABLE countries_reordered AS SELECT \(reordered) FROM countries")
            try db.execute(sql: "DROP TABLE countries")
            try db.execute(sql: "ALTER TABLE countries_reordered RENAME TO countries")
        }
        try queue.close()
        let j = try Self.joined(from: p, snapshot: path, in: dir)
        #expect(try SchemaReplicationTests.tables(j) == SchemaReplicationTests.tables(p))
        #expect(try j.viewDrift().count == 0)
        #expect(try j.digest() == p.digest())
    }

    /// Found by the simulation (seeds 3 and 7 of the first run with joins):
    /// a peer with an SQL edit waiting in its queue (its table row shows the
    /// analyst's value, not yet the record's), and a collection the joiner
    /// has never seen (its tables made while the snapshot is attached).
    @Test func aPeerWithWaitingSQLEditsAndANewCollectionIsJoined() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try Self.peer(in: dir)
        try p.changeSchema(.addCollection(name: "mines", description: "Mines"), author: "ana")
        try p.changeSchema(.addField(collection: "mines", field: "stage", type: "enum", values: ["producing", "exploration"], targets: [], description: nil), author: "ana")
        try p.create(ref("mines/bayan-obo"), [.set("stage", .text("producing"))], author: "ana")
        let edit = try SQLiteShell.run(dir.path("p/data.db"), "UPDATE agreements SET title = 'Typed in sqlite3' WHERE id = 'join-3'")
        #expect(edit.status == 0, "\(edit)")
        #expect(try p.sqlEditCounts().pending == 1)
        let path = try Self.snapshot(of: p, in: dir)
        let j = try Self.joined(from: p, snapshot: path, in: dir)
        #expect(try j.digest() == p.digest())
        #expect(try j.viewDrift().count == 0)
        #expect(try j.sqlEditCounts().pending == 0)
        #expect(try j.read { try String.fetchOne($0, sql: "SELECT title FROM agreements WHERE id = 'join-3'") } == "Agreement 3")
        #expect(try j.read { try String.fetchOne($0, sql: "SELECT stage FROM mines WHERE id = 'bayan-obo'") } == "producing")
        // The peer's own queue is untouched: its analyst's edit still waits there.
        #expect(try p.sqlEditCounts().pending == 1)
    }

    /// A peer whose collection table holds back a received record's row
    /// (replication-model §8), by a UNIQUE index of its analyst's or a
    /// CHECK of a table another program made again: the copy a joiner gets
    /// drops the index or makes the table again from the records, so every
    /// row is the state and the joiner's check passes; the peer keeps its
    /// index. Also once the index is dropped but the row not yet repaired
    /// (`MetaKey.rowsHeldBack` tells the copy to compare its rows).
    @Test(arguments: [(true, false), (false, false), (true, true)])
    func aPeerThatHeldBackARowIsJoined(byIndex: Bool, dropped: Bool) throws {
        let dir = TemporaryDirectory()
        let (p, r, _) = try Self.peer(in: dir)
        try p.withWriteTransaction { db in
            if byIndex {
                try db.execute(sql: "CREATE UNIQUE INDEX own_titles ON agreements(title)")
            } else {
                try remakeTable("agreements", replacing: "\"title\" TEXT", with: "\"title\" TEXT CHECK (title IS NOT 'refused')", in: db)
            }
        }
        // The index refuses a title another record holds; the CHECK, its own.
        try r.create(ref("agreements/held-back"), [.set("title", .text(byIndex ? "Agreement 7" : "refused"))], author: "rui")
        _ = try Self.pullCounting(into: p, from: r)
        #expect(try p.viewDrift().drift.map(\.ref) == [ref("agreements/held-back")])
        if dropped { try p.withWriteTransaction { db in try db.execute(sql: "DROP INDEX own_titles") } }
        let path = try Self.snapshot(of: p, in: dir)
        let j = try Self.joined(from: p, snapshot: path, in: dir)
        #expect(try j.digest() == p.digest())
        #expect(try j.viewDrift().count == 0)
        #expect(try j.layoutProblems().isEmpty)
        #expect(try p.layoutProblems().uniqueIndexes.count == (byIndex && !dropped ? 1 : 0), "the peer's own index stays")
    }

    /// A peer whose analyst's index on an expression raises an error for one
    /// received row (held back there, replication-model §8) still serves
    /// join snapshots: the copy drops every index of the analyst's, not only
    /// UNIQUE ones, before it rewrites the rows that differ, and the joiner
    /// gets the row. The peer keeps its index. One the analyst made under
    /// the name of syncd's own index (after dropping that) is theirs too:
    /// told apart by what it indexes, not by its name.
    @Test(arguments: [false, true]) func aPeerWhoseExpressionIndexHeldBackARowIsJoined(underSyncdsName: Bool) throws {
        let dir = TemporaryDirectory()
        let (p, r, _) = try Self.peer(in: dir)
        var name = "own_json"
        try p.withWriteTransaction { db in
            if underSyncdsName {
                name = try #require(try String.fetchOne(db, sql: "SELECT name FROM pragma_index_list('agreements') WHERE name LIKE 'agreements\\_by\\_%' ESCAPE '\\'"))
                try db.execute(sql: "DROP INDEX \(name.quotedDatabaseIdentifier)")
            }
            try db.execute(sql: "CREATE INDEX \(name.quotedDatabaseIdentifier) ON agreements(json_extract(title, '$.k')) WHERE title LIKE '{%'")
        }
        try r.create(ref("agreements/held-back"), [.set("title", .text("{not json"))], author: "rui")
        _ = try Self.pullCounting(into: p, from: r)
        #expect(try p.viewDrift().drift.map(\.ref) == [ref("agreements/held-back")])
        let path = try Self.snapshot(of: p, in: dir)
        let j = try Self.joined(from: p, snapshot: path, in: dir)
        #expect(try j.digest() == p.digest())
        #expect(try j.viewDrift().count == 0)
        #expect(try j.read { db in try String.fetchOne(db, sql: "SELECT title FROM agreements WHERE id = 'held-back'") } == "{not json")
        #expect(try p.read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = ?)", arguments: [name]) } == true)
        // The joiner has syncd's own index under that name, not the analyst's.
        if underSyncdsName {
            #expect(try j.read { db in try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = ?", arguments: [name]) }?.contains("json_extract") == false)
        }
    }

    /// The joiner's own analyst made a UNIQUE index on a collection table,
    /// or made the table again with a CHECK, and the snapshot holds a row it
    /// refuses: the snapshot is still adopted, that row alone held back
    /// (missing, listed as drift, reported with SQLite's reason; replication-
    /// model §8), the digest the peer's. Dropped (or the table made again)
    /// and repaired, the tables are the state. Rolling the whole adoption
    /// back, as before, fails here. A UNIQUE … ON CONFLICT REPLACE drops
    /// another record's row without an error: nothing names it, but it is
    /// counted (`rowsMissing`) and marked. With no constraint, a mark left
    /// from before goes.
    @Test(arguments: ["index", "check", "replace", "none"])
    func aJoinerWhoseOwnConstraintRefusesARowAdoptsTheRest(constraint: String) throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try Self.peer(in: dir)
        // The index and the REPLACE clause refuse a title another record
        // holds; the CHECK, its own.
        try p.create(ref("agreements/same-title"), [.set("title", .text(constraint == "check" ? "refused" : "Agreement 7"))], author: "ana")
        let path = try Self.snapshot(of: p, in: dir)
        let j = try Self.joiner(in: dir)
        try j.withWriteTransaction { db in
            switch constraint {
            case "index": try db.execute(sql: "CREATE UNIQUE INDEX own_titles ON agreements(title)")
            case "check": try remakeTable("agreements", replacing: "\"title\" TEXT", with: "\"title\" TEXT CHECK (title IS NOT 'refused')", in: db)
            case "replace": try remakeTable("agreements", replacing: "\"title\" TEXT", with: "\"title\" TEXT UNIQUE ON CONFLICT REPLACE", in: db)
            default: try db.execute(sql: "INSERT INTO sync_meta(key, value) VALUES ('rows_held_back', 1)")
            }
        }
        let replica = try p.replicaID, seed = j.seed
        let adopted = try j.adoptJoinSnapshot(at: path, reason: { _ in "test" }) {
            try JoinSnapshotCheck.verify(path: path, expectedReplica: replica, seed: seed)
        }
        #expect(try j.digest() == p.digest())
        let heldBack = try j.read { db in try db.meta(MetaKey.rowsHeldBack) }
        if constraint == "none" {
            #expect(adopted.heldBack.isEmpty && adopted.rowsMissing == 0)
            #expect(heldBack.isNull, "a clean adoption clears an earlier mark")
            #expect(try j.viewDrift().count == 0)
            return
        }
        #expect(!heldBack.isNull)
        #expect(adopted.rowsMissing == 1)
        #expect(try j.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM agreements") }
                == (try p.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM agreements") }).map { $0 - 1 })
        if constraint == "replace" {
            // The later record's row took the place of join-7's.
            #expect(adopted.heldBack.isEmpty)
            #expect(try j.viewDrift().drift.map(\.ref) == [ref("agreements/join-7")])
        } else {
            #expect(adopted.heldBack.count == 1)
            #expect(adopted.heldBack.listed.map(\.ref) == [ref("agreements/same-title")])
            #expect(adopted.heldBack.listed.first?.reason.contains(constraint == "index" ? "UNIQUE constraint failed: agreements.title" : "CHECK constraint failed") == true)
            #expect(try j.viewDrift().drift.map(\.ref) == [ref("agreements/same-title")])
            #expect(try j.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM agreements WHERE id = 'same-title'") } == 0)
        }
        // What `syncctl check --repair` does once the index is dropped.
        if constraint == "index" {
            try j.withWriteTransaction { db in try db.execute(sql: "DROP INDEX own_titles") }
        } else {
            let layout = try j.layoutProblems()
            #expect(!layout.collectionTables.isEmpty, "check names the table made again")
            _ = try j.rebuildCollectionTables(layout.collectionTables)
        }
        _ = try j.repairViews()
        #expect(try j.viewDrift().count == 0)
        #expect(try j.layoutProblems().isEmpty)
        #expect(try j.read { db in try db.meta(MetaKey.rowsHeldBack) }.isNull)
    }

    /// The copy runs beside the check and waits for it: a check that ends
    /// after the copy and refuses leaves the joiner as it was (no state, no
    /// new replica id, no database kept aside); one that passes late is
    /// adopted with its own facts.
    @Test func aCheckThatRefusesAfterTheCopyLeavesNothing() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try Self.peer(in: dir)
        let path = try Self.snapshot(of: p, in: dir)
        let j = try Self.joiner(in: dir)
        let (digest, replica) = (try j.digest(), try j.replicaID)
        let entries = { try FileManager.default.contentsOfDirectory(atPath: dir.path("j")).filter { !$0.hasPrefix("data.db") }.sorted() }
        let before = try entries()
        #expect(throws: JoinSnapshotRefusal.self) {
            try j.adoptJoinSnapshot(at: path, reason: { _ in "test" }) {
                Thread.sleep(forTimeInterval: 0.5)
                throw JoinSnapshotRefusal("refused late on purpose")
            }
        }
        #expect(try j.digest() == digest)
        #expect(try j.replicaID == replica)
        #expect(try entries() == before, "nothing kept aside or staged")
        #expect(!j.checkpointer.isPaused, "a refused join leaves the store's checkpoints running")
        // Refused at once: the copy is interrupted, the check's reason given.
        #expect(throws: JoinSnapshotRefusal("refused at once")) {
            try j.adoptJoinSnapshot(at: path, reason: { _ in "test" }) { throw JoinSnapshotRefusal("refused at once") }
        }
        #expect(try j.digest() == digest && j.replicaID == replica && entries() == before)
        // A file the copy cannot even attach, refused by a check that ends
        // later: the reason is the check's, not SQLite's error.
        let garbage = dir.path("garbage.syncsnap")
        try Data(repeating: 0x5A, count: 8_192).write(to: URL(fileURLWithPath: garbage))
        #expect(throws: JoinSnapshotRefusal("refused after the copy failed")) {
            try j.adoptJoinSnapshot(at: garbage, reason: { _ in "test" }) {
                Thread.sleep(forTimeInterval: 0.5)
                throw JoinSnapshotRefusal("refused after the copy failed")
            }
        }
        let (peer, seed) = (try p.replicaID, j.seed)
        let adopted = try j.adoptJoinSnapshot(at: path, reason: { "at \($0.highestSeq)" }) {
            Thread.sleep(forTimeInterval: 0.5)
            return try JoinSnapshotCheck.verify(path: path, expectedReplica: peer, seed: seed)
        }
        #expect(try j.digest() == p.digest())
        #expect(adopted.facts.digest == (try p.digest()))
        #expect(adopted.adoption.previous == replica && adopted.adoption.replica != replica)
        #expect(j.checkpointer.isPaused, "an adopted join pauses checkpoints until checkpointAfterJoin")
    }

    /// The search: one byte of the snapshot file changed anywhere. Either the
    /// check refuses it, or the byte did not matter (free space in a page)
    /// and the adopted state equals the peer's, tables and all.
    ///
    /// The search runs on NIO's thread pool, not on the test runner's few
    /// threads, so the quick tests around it are not kept waiting.
    @Test func anyFlippedByteIsRefusedOrHarmless() async throws {
        let rounds = 24
        let outcome = try await Blocking.run { () -> (seed: UInt64, refused: Int, harmless: Int, failures: [String]) in
            let dir = TemporaryDirectory()
            let (p, _, _) = try Self.peer(in: dir)
            let path = try Self.snapshot(of: p, in: dir)
            let original = try Data(contentsOf: URL(fileURLWithPath: path))
            var generator = SystemRandomNumberGenerator()
            let seed = UInt64.random(in: 0...UInt64.max, using: &generator)
            var random = SeededRandom(seed: seed)
            var refused = 0, harmless = 0
            var failures: [String] = []
            // Round 0 flips a byte of a record's title, which the check must
            // refuse (its slot hash); the others search: half in the first
            // pages (header, schema, meta), half anywhere.
            let title = Array("Agreement 57".utf8)
            let titleOffset = (0...(original.count - title.count)).first { original[$0..<($0 + title.count)].elementsEqual(title) }
            for round in 0..<rounds {
                var bytes = original
                let offset = round == 0 ? (titleOffset ?? 0) + title.count - 1
                    : round % 2 == 0 ? Int(random.next() % UInt64(min(16_384, bytes.count))) : Int(random.next() % UInt64(bytes.count))
                bytes[offset] ^= UInt8(1 << (random.next() % 8))
                let damaged = dir.path("flip-\(round).syncsnap")
                try bytes.write(to: URL(fileURLWithPath: damaged))
                // As the daemon does: the check on threads of its own while
                // the transaction copies the damaged file's rows.
                let j = try Self.joiner(in: dir, "j\(round)")
                let (digestBefore, replicaBefore) = (try j.digest(), try j.replicaID)
                let (replica, seed) = (try p.replicaID, p.seed)
                do {
                    _ = try j.adoptJoinSnapshot(at: damaged, reason: { _ in "test" }) {
                        try JoinSnapshotCheck.verify(path: damaged, expectedReplica: replica, seed: seed)
                    }
                    if try j.digest() != p.digest() { failures.append("flip at \(offset) passed the check and changed the state") }
                    if try SchemaReplicationTests.tables(j) != SchemaReplicationTests.tables(p) { failures.append("flip at \(offset) changed a table") }
                    harmless += 1
                } catch is JoinSnapshotRefusal {
                    // Refused: the copy made meanwhile is rolled back.
                    if try j.digest() != digestBefore || j.replicaID != replicaBefore { failures.append("flip at \(offset) was refused but left copied state") }
                    refused += 1
                }
            }
            if titleOffset == nil { failures.append("no record title found in the snapshot file") }
            return (seed, refused, harmless, failures)
        }
        #expect(outcome.failures.isEmpty, "seed \(outcome.seed): \(outcome.failures)")
        #expect(outcome.refused + outcome.harmless == rounds)
        #expect(outcome.refused > 0)
    }
}

