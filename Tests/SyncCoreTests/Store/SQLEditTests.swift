import Foundation
import GRDB
import PropertyBased
import Testing
@testable import SyncCore
import TestSupport

/// Writes to the collection tables from another SQLite connection (triggers
/// on, as in any client) become local writes when the store takes them up
/// (docs/sql.md).
@Suite("SQL writes to the collection tables", .serialized, .timeLimit(.minutes(3)))
struct SQLEditTests {
    /// Another client's connection: plain GRDB, triggers on.
    static func client(_ store: Store) throws -> DatabaseQueue {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        return try DatabaseQueue(path: store.path, configuration: configuration)
    }

    /// Runs `statements` in one transaction of another client, as an analyst's script would.
    static func run(_ store: Store, _ statements: String...) throws {
        try client(store).write { db in
            for statement in statements { try db.execute(sql: statement) }
        }
    }

    static func seeded(_ dir: TemporaryDirectory, _ name: String = "data.db") throws -> Store {
        let store = try dir.store(name)
        try store.seed(SeedData.criticalMinerals())
        return store
    }

    @Test func anUpdateBecomesALocalWriteWithAuthorAndHistory() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let digest = try store.digest()
        try Self.client(store).write { db in
            try db.execute(sql: "UPDATE agreements SET status = 'active' WHERE id = 'green-minerals-initiative'")
        }
        #expect(try store.hasPendingSQLEdits())
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == 1 && report.refused.isEmpty && report.dots.count == 1)
        #expect(try store.record(ref("agreements/green-minerals-initiative"))?.value("status") == .text("active"))
        let history = try store.history(ref("agreements/green-minerals-initiative"), field: "status")
        #expect(history.contains { $0.version.author == "ana" && $0.version.value == .text("active") && $0.isCurrent })
        #expect(try store.digest() != digest)
        #expect(try !store.hasPendingSQLEdits())
        #expect(try store.viewDrift().count == 0)
        // Only the field the statement changed was written (and `_exists`).
        #expect(try store.history(ref("agreements/green-minerals-initiative"), field: "title").allSatisfy { $0.version.author == "seed" })
    }

    @Test func aRolledBackTransactionLeavesNothing() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let client = try Self.client(store)
        try client.inDatabase { db in
            try db.execute(sql: "BEGIN")
            try db.execute(sql: "UPDATE agreements SET status = 'expired'")
            try db.execute(sql: "DELETE FROM countries")
            try db.execute(sql: "ROLLBACK")
        }
        #expect(try !store.hasPendingSQLEdits())
        #expect(try store.takeUpSQLEdits(author: "ana").isEmpty)
        #expect(try store.sqlEditCounts() == SQLEditCounts())
    }

    @Test func aMultiRowUpdateIsTakenUpInOneTransaction() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let count = try store.list("agreements").count
        try Self.client(store).write { db in try db.execute(sql: "UPDATE agreements SET summary = 'checked ' || id") }
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == count && report.dots.count == 1)
        for record in try store.list("agreements") {
            #expect(try store.record(record.ref)?.value("summary") == .text("checked \(record.ref.id)"))
        }
    }

    @Test func insertAndDeleteAndSetColumns() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        try Self.client(store).write { db in
            try db.execute(sql: """
                INSERT INTO agreements(id, title, kind, status, minerals, parties)
                VALUES ('new-deal', 'A new deal', 'supply', 'proposed', '["minerals/lithium","minerals/cobalt"]', NULL);
                DELETE FROM countries WHERE id = 'zw';
                """)
        }
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 2)
        let deal = try #require(try store.record(ref("agreements/new-deal")))
        #expect(deal.exists && deal.presentMembers("minerals") == ["minerals/cobalt", "minerals/lithium"])
        #expect(try store.record(ref("countries/zw"))?.exists == false)
        // A peer adds a member meanwhile; the SQL edit removes one and adds one: the peer's stays.
        try Self.client(store).write { db in
            try db.execute(sql: #"UPDATE agreements SET minerals = '["minerals/cobalt","minerals/nickel"]' WHERE id = 'new-deal'"#)
        }
        try store.update(ref("agreements/new-deal"), [.add("minerals", "minerals/copper")], author: "peer")
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 1)
        #expect(try store.record(ref("agreements/new-deal"))?.presentMembers("minerals") == ["minerals/cobalt", "minerals/copper", "minerals/nickel"])
        #expect(try store.viewDrift().count == 0)
    }

    @Test func triggersRefuseWhatCannotBeAnEdit() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let client = try Self.client(store)
        for (sql, words) in [
            ("INSERT INTO countries(id, name) VALUES ('cn', 'Again')", "already has a record"),
            ("INSERT OR REPLACE INTO countries(id, name) VALUES ('cn', 'Again')", "already has a record"),
            ("UPDATE countries SET id = 'xx' WHERE id = 'cn'", "id of a record cannot change"),
            ("UPDATE countries SET conflicted = 1 WHERE id = 'cn'", "conflicted is computed"),
            ("INSERT INTO countries(id, name, conflicted) VALUES ('qq', 'Q', 1)", "conflicted is computed"),
        ] {
            #expect(throws: DatabaseError.self, "\(sql)") { try client.write { db in try db.execute(sql: sql) } }
            do { try client.write { db in try db.execute(sql: sql) } } catch let error as DatabaseError {
                #expect(error.message?.contains(words) == true, "\(sql): \(error)")
            }
        }
        #expect(try !store.hasPendingSQLEdits())
    }

    @Test func anInvalidValueIsRefusedAndKeptAndALaterValidEditStillGoesThrough() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let client = try Self.client(store)
        try client.write { db in try db.execute(sql: "UPDATE agreements SET status = 'bogus' WHERE id = 'green-minerals-initiative'") }
        let first = try store.takeUpSQLEdits(author: "ana")
        #expect(first.applied == 0 && first.refused.count == 1)
        #expect(first.refused[0].reason?.contains("not an allowed value") == true)
        // The table shows the replicated state again; the edit is kept.
        #expect(try client.read { db in try String.fetchOne(db, sql: "SELECT status FROM agreements WHERE id = 'green-minerals-initiative'") } == "proposed")
        #expect(try store.sqlEditCounts() == SQLEditCounts(pending: 0, refused: 1))
        #expect(try store.sqlEdits().first?.reason?.contains("bogus") == true)
        try client.write { db in try db.execute(sql: "UPDATE agreements SET status = 'active' WHERE id = 'green-minerals-initiative'") }
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 1)
        #expect(try store.record(ref("agreements/green-minerals-initiative"))?.value("status") == .text("active"))
        // Discarded on request.
        #expect(try store.discardSQLEdits(nil) == 1)
        #expect(try store.sqlEditCounts() == SQLEditCounts())
    }

    @Test func anEditOnTopOfAPendingRefusedOneReadsItsOwnRow() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        try Self.client(store).write { db in
            try db.execute(sql: "UPDATE agreements SET status = 'bogus' WHERE id = 'green-minerals-initiative'")
            try db.execute(sql: "UPDATE agreements SET status = 'active' WHERE id = 'green-minerals-initiative'")
        }
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == 1 && report.refused.count == 1)
        #expect(try store.record(ref("agreements/green-minerals-initiative"))?.value("status") == .text("active"))
    }

    @Test func aFieldChangedBeforeTheTakeUpRefusesTheEditUntilRetried() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        try Self.client(store).write { db in try db.execute(sql: "UPDATE countries SET notes = 'from SQL' WHERE id = 'cn'") }
        // A peer's edit lands before the daemon takes the SQL edit up.
        try store.update(ref("countries/cn"), [.set("notes", .text("from a peer"))], author: "peer")
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.refused.count == 1 && report.refused[0].reason?.contains("changed after this edit was made") == true)
        #expect(try store.record(ref("countries/cn"))?.value("notes") == .text("from a peer"))
        let edit = try #require(try store.sqlEdits().first)
        let (retried, again) = try store.retrySQLEdits([edit.edit], author: "ana")
        #expect(retried == 1 && again.applied == 1)
        #expect(try store.record(ref("countries/cn"))?.value("notes") == .text("from SQL"))
        #expect(throws: StoreError.self) { try store.retrySQLEdits([9_999], author: "ana") }
    }

    @Test func anEditTheWriteRefusesIsKeptAndDoesNotHoldUpTheQueue() throws {
        let dir = TemporaryDirectory()
        let seeded = try Self.seeded(dir)
        try Self.client(seeded).write { db in
            for (index, id) in ["cn", "de", "fr", "zw", "cd"].enumerated() {
                try db.execute(sql: "UPDATE countries SET notes = 'n\(index)' WHERE id = '\(id)'")
            }
        }
        // The third edit's write fails (nothing the planner could see).
        let (store, failing, report) = try Self.takeUp(in: dir, failingEdit: 2, of: seeded)
        #expect(report.applied == 4 && report.refusedCount == 1, "\(report)")
        #expect(report.refused.first?.edit == failing && report.refused.first?.reason?.contains("could not be written") == true)
        #expect(try !store.hasPendingSQLEdits())
        #expect(try store.record(ref("countries/cd"))?.value("notes") == .text("n4"))
        // A NUL in the author fails every write: nothing is refused, all stay queued.
        try Self.client(store).write { db in try db.execute(sql: "UPDATE countries SET notes = 'later' WHERE id = 'cn'") }
        #expect(throws: StoreError.self) { try store.takeUpSQLEdits(author: "bad\u{0}author") }
        #expect(try store.sqlEditCounts() == SQLEditCounts(pending: 1, refused: 1))
    }

    /// A passing error (a full disk) after some transactions committed:
    /// those are reported with their dots, not lost behind a thrown error,
    /// and the edits after them stay queued, taken up once there is room.
    /// Before any commit, the error is thrown and every edit stays queued.
    @Test func aFullDiskPartWayReportsWhatCommittedAndKeepsTheRest() throws {
        let dir = TemporaryDirectory()
        let seeded = try Self.seeded(dir)
        // Four edits of one record: one transaction each.
        try Self.client(seeded).write { db in
            for index in 1...4 { try db.execute(sql: "UPDATE countries SET notes = 'n\(index)' WHERE id = 'cn'") }
        }
        let edits = try seeded.read { db in try Int64.fetchAll(db, sql: "SELECT edit FROM sync_sql_edits_countries ORDER BY edit") }
        let full = DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full")
        for (failing, committed) in [(edits[0], 0), (edits[2], 2)] {
            var options = Store.Options()
            options.sqlEditWriteFault = { $0 == failing ? full : nil }
            let store = try dir.store(options: options)
            let before = try store.highestSeq()
            if committed == 0 {
                #expect(throws: DatabaseError.self) { try store.takeUpSQLEdits(author: "ana") }
                #expect(try store.highestSeq() == before)
            } else {
                let report = try store.takeUpSQLEdits(author: "ana")
                #expect(report.applied == committed && report.dots.count == committed, "\(report)")
                #expect(report.stoppedBy?.contains("database or disk is full") == true)
                #expect(try store.record(ref("countries/cn"))?.value("notes") == .text("n\(committed)"))
                #expect(try store.highestSeq() > before)
            }
            #expect(try store.sqlEditCounts() == SQLEditCounts(pending: 4 - committed, refused: 0))
        }
        // Room again: the rest are taken up, in order.
        let store = try dir.store()
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == 2 && report.stoppedBy == nil)
        #expect(try store.record(ref("countries/cn"))?.value("notes") == .text("n4"))
        #expect(try !store.hasPendingSQLEdits())
    }

    /// An edit made on top of a refused one reads the row the refused one
    /// wrote, not the state; when the take-up stops between the two (a full
    /// disk here; a crash, or syncd and syncctl sharing the queue, alike),
    /// whoever takes the second up later still compares it with what the
    /// first left (`SQLEditReads`), and does not refuse it as changed.
    @Test func anEditOnTopOfARefusedOneGoesThroughWhenTheTakeUpStoppedBetween() throws {
        let dir = TemporaryDirectory()
        let seeded = try Self.seeded(dir)
        let gmi = "green-minerals-initiative"
        try Self.client(seeded).write { db in
            try db.execute(sql: "UPDATE agreements SET status = 'bogus' WHERE id = ?", arguments: [gmi])
            try db.execute(sql: "UPDATE agreements SET status = 'active' WHERE id = ?", arguments: [gmi])
        }
        let second = try seeded.read { db in try Int64.fetchOne(db, sql: "SELECT max(edit) FROM sync_sql_edits_agreements") }!
        var options = Store.Options()
        options.sqlEditWriteFault = { $0 == second ? DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full") : nil }
        let stopped = try dir.store(options: options).takeUpSQLEdits(author: "ana")
        #expect(stopped.refusedCount == 1 && stopped.applied == 0 && stopped.stoppedBy != nil, "\(stopped)")
        #expect(try seeded.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_sql_reads") } == 1)
        // Another store on the file (syncctl, or syncd after a restart).
        let report = try dir.store().takeUpSQLEdits(author: "ana")
        #expect(report.applied == 1 && report.refusedCount == 0, "\(report)")
        #expect(try seeded.record(ref("agreements/\(gmi)"))?.value("status") == .text("active"))
        // Nothing waits: no chain is kept.
        #expect(try seeded.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_sql_reads") } == 0)
        // A join snapshot carries none of this replica's chains.
        try Self.client(seeded).write { db in
            try db.execute(sql: "UPDATE agreements SET status = 'bogus' WHERE id = ?", arguments: [gmi])
            try db.execute(sql: "UPDATE agreements SET status = 'expired' WHERE id = ?", arguments: [gmi])
        }
        let third = try seeded.read { db in try Int64.fetchOne(db, sql: "SELECT max(edit) FROM sync_sql_edits_agreements") }!
        options.sqlEditWriteFault = { $0 == third ? DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full") : nil }
        _ = try dir.store(options: options).takeUpSQLEdits(author: "ana")
        #expect(try seeded.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_sql_reads") } == 1)
        let snapshot = dir.url.appendingPathComponent("join.db")
        _ = try seeded.takeJoinSnapshot(to: snapshot)
        let copy = try DatabaseQueue(path: snapshot.path)
        #expect(try copy.read { db in try db.tableExists("sync_sql_reads") } == false)
        try copy.close()
    }

    /// An edit that had nothing to write in a column (a peer had written the
    /// same value first) still showed the analyst that value: an edit made
    /// on top of it read what the state holds there, and goes through.
    @Test func anEditOnTopOfOneAPeerHadAlreadyMadeGoesThrough() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let gmi = ref("agreements/green-minerals-initiative")
        for (first, kind) in [("title = 'z'", "nothing to write"), ("title = 'z2', summary = 's'", "the summary written, the title not")] {
            try Self.run(store,
            "UPDATE agreements SET \(first) WHERE id = 'green-minerals-initiative'",
            "UPDATE agreements SET title = 'w-\(kind)' WHERE id = 'green-minerals-initiative'")
            // The peer's write lands before the take-up, with the first edit's title.
            try store.update(gmi, [.set("title", .text(first.contains("z2") ? "z2" : "z"))], author: "peer")
            let report = try store.takeUpSQLEdits(author: "ana")
            #expect(report.refusedCount == 0, "\(kind): \(report)")
            #expect(try store.record(gmi)?.value("title") == .text("w-\(kind)"), "\(kind)")
        }
    }

    /// A field in conflict shows one of its values: an edit whose row showed
    /// that one did not see the others, so an edit on top of it is judged as
    /// before and refused, never written over the value no one saw (helper-110).
    @Test func anEditOnTopOfOneThatMetAConflictIsStillRefused() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let gmi = ref("agreements/green-minerals-initiative")
        try Self.run(store,
            "UPDATE agreements SET title = 'x' WHERE id = 'green-minerals-initiative'",
            "UPDATE agreements SET summary = 's1' WHERE id = 'green-minerals-initiative'",
            "UPDATE agreements SET title = 'y' WHERE id = 'green-minerals-initiative'")
        // Two peers wrote the title concurrently, 'x' (shown) and 'q'.
        let key = SlotKey(collection: gmi.collection, record: gmi.id, field: "title")
        let now = UInt64(Date().timeIntervalSince1970 * 1_000)
        let original = try store.slotState(key)
        var state = original
        for (value, later) in [("q", UInt64(1_000)), ("x", 2_000)] {
            let version = Version(dot: Dot(replica: .random(), counter: 1), hlc: HLC(millis: now + later, logical: 0), author: "peer-\(value)", value: .text(value))
            state = SlotMerge.merge(state, SlotMerge.write(version, over: original))
        }
        _ = try store.apply([SlotChange(key: key, state: state)], from: .random(), cursor: nil)
        #expect(try store.record(gmi)?.scalar("title")?.isConflicted == true)
        #expect(try store.record(gmi)?.value("title") == .text("x"))
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == 1 && report.refusedCount == 2, "\(report)")
        #expect(try store.record(gmi)?.scalar("title")?.isConflicted == true)
    }

    /// An UPDATE made on top of a refused INSERT read nothing of the record a
    /// peer created meanwhile: the record's other columns are not seen
    /// through it, and an edit after it that changes one is refused
    /// (helper-110).
    @Test func anEditOnTopOfARefusedInsertDoesNotSeeThePeersRecord() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        try Self.run(store,
            "INSERT INTO countries(id, name) VALUES ('xk', 'Kosova')",
            "UPDATE countries SET role = 'importer' WHERE id = 'xk'",
            "UPDATE countries SET name = 'Kosovo Republic' WHERE id = 'xk'")
        try store.create(ref("countries/xk"), [.set("name", .text("Kosovo"))], author: "peer")
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.refusedCount == 2 && report.applied == 1, "\(report)")
        #expect(try store.record(ref("countries/xk"))?.value("name") == .text("Kosovo"))
    }

    /// A chain holds only for edits queued before the take-up that kept it:
    /// a statement made after that read the row the take-up rewrote from the
    /// state, so a chain left behind (the take-up stopped before it could
    /// empty them) never changes what a later edit is judged against.
    @Test func aChainLeftBehindDoesNotJudgeALaterStatement() throws {
        let dir = TemporaryDirectory()
        let seeded = try Self.seeded(dir)
        let gmi = ref("agreements/green-minerals-initiative")
        // A: the title to 'x', refused because a peer wrote 'z' first; B stops the take-up.
        try Self.run(seeded,
            "UPDATE agreements SET title = 'x' WHERE id = 'green-minerals-initiative'",
            "UPDATE countries SET notes = 'n' WHERE id = 'cn'")
        try seeded.update(gmi, [.set("title", .text("z"))], author: "peer")
        let b = try seeded.read { db in try Int64.fetchOne(db, sql: "SELECT max(edit) FROM sync_sql_edits_countries") }!
        var options = Store.Options()
        options.sqlEditWriteFault = { $0 == b ? DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full") : nil }
        // (One edit per transaction: A commits before B fails.)
        let stopped = try dir.store(options: options).takeUpSQLEdits(author: "ana", batch: 1)
        #expect(stopped.refusedCount == 1 && stopped.stoppedBy != nil, "\(stopped)")
        #expect(try seeded.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_sql_reads") } == 1)
        // A peer then writes 'x'; the analyst, reading 'x', writes 'w'.
        try seeded.update(gmi, [.set("title", .text("x"))], author: "peer")
        try Self.client(seeded).write { db in try db.execute(sql: "UPDATE agreements SET title = 'w' WHERE id = 'green-minerals-initiative'") }
        let report = try dir.store().takeUpSQLEdits(author: "ana")
        #expect(report.applied == 2 && report.refusedCount == 0, "\(report)")
        #expect(try seeded.record(gmi)?.value("title") == .text("w"))
    }

    /// Whatever a client or a copied file put under the table's name (an
    /// index, a table of another shape) is replaced before a take-up: it
    /// neither stops the take-up nor refuses edits.
    @Test func somethingElseUnderTheChainsNameIsReplaced() throws {
        for intruder in ["CREATE INDEX sync_sql_reads ON countries(notes)",
                         "CREATE TABLE sync_sql_reads(x); INSERT INTO sync_sql_reads VALUES (1)",
                         "CREATE VIEW SYNC_SQL_READS AS SELECT 1 AS x",
                         "CREATE TABLE sync_sql_reads(x); CREATE TRIGGER sync_sql_reads AFTER INSERT ON sync_sql_reads BEGIN SELECT 1; END",
                         "\(SQLEditReads.declaration); CREATE INDEX reads_as_json ON sync_sql_reads(json(last))"] {
            let dir = TemporaryDirectory()
            let seeded = try Self.seeded(dir)
            try Self.client(seeded).write { db in
                try db.execute(sql: intruder)
                try db.execute(sql: "UPDATE agreements SET status = 'bogus' WHERE id = 'green-minerals-initiative'")
                try db.execute(sql: "UPDATE agreements SET status = 'active' WHERE id = 'green-minerals-initiative'")
                try db.execute(sql: "UPDATE countries SET notes = 'n' WHERE id = 'cn'")
            }
            let report = try seeded.takeUpSQLEdits(author: "ana")
            #expect(report.applied == 2 && report.refusedCount == 1, "\(intruder): \(report)")
            #expect(try seeded.record(ref("agreements/green-minerals-initiative"))?.value("status") == .text("active"))
            #expect(try seeded.read(SQLEditReads.isInPlace), "\(intruder)")
        }
    }

    /// Chains as bytes: every cell class comes back as it went, and bytes
    /// that are not exactly a row's cells read as no chain.
    @Test func keptChainsDecodeExactlyOrNotAtAll() {
        let cells: [SQLCell] = [.text(Array("cn".utf8)), .null, .integer(-7), .real(-0.0), .text([0xFF, 0x00]), .blob([])]
        let bytes = SQLEditReads.encode(cells)
        #expect(SQLEditReads.decode(bytes, width: cells.count).map(SQLEditReads.encode) == bytes)
        #expect(SQLEditReads.decode(bytes, width: cells.count - 1) == nil)
        #expect(SQLEditReads.decode(bytes, width: cells.count + 1) == nil)
        #expect(SQLEditReads.decode(Array(bytes.dropLast()), width: cells.count) == nil)
        #expect(SQLEditReads.decode(bytes + [9], width: cells.count + 1) == nil)
    }

    /// The store opened again with the write of its `index`th queued
    /// countries edit failing (nothing the planner could see), and what
    /// taking the edits up reported.
    static func takeUp(in dir: TemporaryDirectory, failingEdit index: Int, of seeded: Store) throws -> (Store, Int64, SQLEditReport) {
        var options = Store.Options()
        let failing = try seeded.read { db in try Int64.fetchOne(db, sql: "SELECT edit FROM sync_sql_edits_countries ORDER BY edit LIMIT 1 OFFSET ?", arguments: [index]) }!
        options.sqlEditWriteFault = { $0 == failing ? StoreError.invalidEdit("injected") : nil }
        let store = try dir.store(options: options)
        return (store, failing, try store.takeUpSQLEdits(author: "ana"))
    }

    /// The first two countries with a name, by id.
    static func twoCountries(_ store: Store) throws -> (String, String) {
        try store.read { db in
            let ids = try String.fetchAll(db, sql: "SELECT id FROM countries WHERE name IS NOT NULL ORDER BY id LIMIT 2")
            return (ids[0], ids[1])
        }
    }

    /// A refused edit's row is put back from its record; when a UNIQUE
    /// index of the analyst's refuses that row (another row took its name
    /// meanwhile), the row stays out (reported as drift) and the edits
    /// after it are still taken up: the queue is never held up by it.
    @Test func aRowPutBackThatTheAnalystsIndexRefusesDoesNotHoldUpTheQueue() throws {
        let dir = TemporaryDirectory()
        let seeded = try Self.seeded(dir)
        let (first, second) = try Self.twoCountries(seeded)
        let name = try seeded.read { db in try String.fetchOne(db, sql: "SELECT name FROM countries WHERE id = ?", arguments: [first]) }!
        try Self.client(seeded).write { db in
            try db.execute(sql: "CREATE UNIQUE INDEX own_names ON countries(name)")
            try db.execute(sql: "DELETE FROM countries WHERE id = ?", arguments: [first])
            try db.execute(sql: "UPDATE countries SET name = ? WHERE id = ?", arguments: [name, second])
            try db.execute(sql: "UPDATE countries SET notes = 'after' WHERE id = ?", arguments: [second])
        }
        // The delete's write fails, so it is refused and its row put back: under a name the second row holds now.
        let (store, _, report) = try Self.takeUp(in: dir, failingEdit: 0, of: seeded)
        #expect(report.applied == 2 && report.refusedCount == 1, "\(report)")
        #expect(try !store.hasPendingSQLEdits())
        #expect(try store.record(ref("countries/\(second)"))?.value("name") == .text(name))
        #expect(try store.record(ref("countries/\(second)"))?.value("notes") == .text("after"))
        #expect(try store.record(ref("countries/\(first)"))?.exists == true, "the delete was refused")
        #expect(try store.viewDrift().drift.map(\.ref) == [ref("countries/\(first)")], "its row is held back, and reported")
    }

    /// `check --repair` rewrites drifted rows by difference: the cells of a
    /// column the analyst added stay in every row, and a row of no record
    /// goes only after its cells are copied into `countries_kept_columns`.
    @Test func aRepairKeepsTheCellsOfAColumnTheAnalystAdded() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let (first, second) = try Self.twoCountries(store)
        try Self.client(store).write { db in
            try db.execute(sql: "ALTER TABLE countries ADD COLUMN score INTEGER")
            try db.execute(sql: "UPDATE countries SET score = 7 WHERE id = ?", arguments: [first])
        }
        // Drift written with triggers off (the store's own connection): a
        // changed name, a removed row, and a row of no record with a score.
        try store.withWriteTransaction { db in
            try db.execute(sql: "UPDATE countries SET name = 'drifted' WHERE id = ?", arguments: [first])
            try db.execute(sql: "DELETE FROM countries WHERE id = ?", arguments: [second])
            try db.execute(sql: "INSERT INTO countries(id, name, score) VALUES ('no-such-record', 'x', 5)")
        }
        #expect(try store.viewDrift().count == 3)
        let repair = try store.repairViews()
        #expect(repair.rows == 3)
        #expect(try store.viewDrift().count == 0)
        let (score, kept) = try store.read { db in
            (try Int.fetchOne(db, sql: "SELECT score FROM countries WHERE id = ?", arguments: [first]),
             try Int.fetchOne(db, sql: "SELECT score FROM countries_kept_columns WHERE id = 'no-such-record'"))
        }
        #expect(score == 7, "the analyst's cell stays in a rewritten row")
        #expect(kept == 5, "the cell of a row that went is copied aside first")
        #expect(repair.kept.count == 1 && repair.kept.first?.description.contains("rows of no record") == true, "\(repair.kept)")
    }

    @Test func anInsertThenADeleteInOneTransactionBothGoThrough() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        try Self.client(store).write { db in
            try db.execute(sql: "INSERT INTO agreements(id, title, kind, status) VALUES ('t2', 'T', 'supply', 'proposed')")
            try db.execute(sql: "DELETE FROM agreements WHERE id = 't2'")
            try db.execute(sql: "INSERT INTO agreements(id, title, parties) VALUES ('t3', 'T', '[]')")
            try db.execute(sql: "UPDATE agreements SET status = 'active' WHERE id = 't3'")
        }
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == 4 && report.refusedCount == 0, "\(report.refused.map { $0.reason ?? "" })")
        #expect(try store.record(ref("agreements/t2"))?.exists == false)
        #expect(try store.record(ref("agreements/t3"))?.value("status") == .text("active"))
    }

    @Test func textKeepsItsBytes() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        // NFD "Café": equal to the NFC spelling as a Swift String, not as bytes.
        try Self.client(store).write { db in try db.execute(sql: "UPDATE countries SET notes = 'Cafe' || char(769) WHERE id = 'cn'") }
        try store.takeUpSQLEdits(author: "ana")
        guard case .text(let text) = try store.record(ref("countries/cn"))?.value("notes") else { Issue.record("no text"); return }
        #expect(Array(text.utf8) == Array("Cafe\u{301}".utf8))
        // Then NFC over NFD: a change, though Swift calls the two equal.
        try Self.client(store).write { db in try db.execute(sql: "UPDATE countries SET notes = 'Caf' || char(233) WHERE id = 'cn'") }
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 1)
        guard case .text(let after) = try store.record(ref("countries/cn"))?.value("notes") else { Issue.record("no text"); return }
        #expect(Array(after.utf8) == Array("Caf\u{E9}".utf8))
        #expect(try store.viewDrift().count == 0)
    }

    // MARK: - Found by review

    @Test func aSetMemberWrittenInShortFormOrTwiceIsNotLost() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let gmi = ref("agreements/green-minerals-initiative")
        #expect(try store.record(gmi)?.presentMembers("minerals") == ["minerals/rare-earths"])
        try Self.client(store).write { db in
            try db.execute(sql: #"UPDATE agreements SET minerals = '["rare-earths"]' WHERE id = 'green-minerals-initiative'"#)
        }
        try store.takeUpSQLEdits(author: "ana")
        #expect(try store.record(gmi)?.presentMembers("minerals") == ["minerals/rare-earths"])
        try Self.client(store).write { db in
            try db.execute(sql: #"UPDATE agreements SET minerals = '["cobalt","minerals/cobalt","rare-earths"]' WHERE id = 'green-minerals-initiative'"#)
        }
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == 1)
        #expect(try store.record(gmi)?.presentMembers("minerals") == ["minerals/cobalt", "minerals/rare-earths"])
        // One version per slot per dot: the history holds the member once.
        let dot = try #require(report.dots.first)
        let cobalt = try store.history(gmi).filter { $0.key.element == "minerals/cobalt" && $0.version.dot == dot }
        #expect(cobalt.count == 1)
        // Deleted, then inserted again with a short-form member: the member is there.
        try Self.client(store).write { db in
            try db.execute(sql: "DELETE FROM agreements WHERE id = 'green-minerals-initiative'")
            try db.execute(sql: #"INSERT INTO agreements(id, title, minerals) VALUES ('green-minerals-initiative', 'Back', '["rare-earths"]')"#)
        }
        try store.takeUpSQLEdits(author: "ana")
        #expect(try store.record(gmi)?.presentMembers("minerals") == ["minerals/rare-earths"])
        #expect(try store.viewDrift().count == 0)
    }

    /// A table row showing what the replicated state does not hold (as when a
    /// peer's merge lands between a statement and its take-up).
    static func drift(_ store: Store, _ sql: String) throws {
        try store.withWriteTransaction { db in try db.execute(sql: sql) }   // the store's connection: triggers off
    }

    @Test func anEditOnTopOfAnotherStillSeesAPeersChange() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        // The state holds 'proposed'; the table is made to show 'suspended'.
        try Self.drift(store, "UPDATE agreements SET status = 'suspended' WHERE id = 'green-minerals-initiative'")
        try Self.client(store).write { db in
            try db.execute(sql: "UPDATE agreements SET summary = 's2' WHERE id = 'green-minerals-initiative'")
            try db.execute(sql: "UPDATE agreements SET status = 'expired' WHERE id = 'green-minerals-initiative'")
        }
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == 1 && report.refused.count == 1, "\(report)")
        #expect(try store.record(ref("agreements/green-minerals-initiative"))?.value("status") == .text("proposed"))
        // Stacked on a refused stale edit: refused too.
        try Self.drift(store, "UPDATE agreements SET status = 'suspended' WHERE id = 'green-minerals-initiative'")
        try Self.client(store).write { db in
            try db.execute(sql: "UPDATE agreements SET status = 'expired' WHERE id = 'green-minerals-initiative'")
            try db.execute(sql: "UPDATE agreements SET status = 'active' WHERE id = 'green-minerals-initiative'")
        }
        let stacked = try store.takeUpSQLEdits(author: "ana")
        #expect(stacked.applied == 0 && stacked.refused.count == 2, "\(stacked)")
        #expect(try store.record(ref("agreements/green-minerals-initiative"))?.value("status") == .text("proposed"))
        // Stacked on an applied edit: goes through.
        try Self.client(store).write { db in
            try db.execute(sql: "UPDATE agreements SET status = 'negotiating' WHERE id = 'green-minerals-initiative'")
            try db.execute(sql: "UPDATE agreements SET status = 'active' WHERE id = 'green-minerals-initiative'")
        }
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 2)
        #expect(try store.record(ref("agreements/green-minerals-initiative"))?.value("status") == .text("active"))
    }

    @Test func aDeleteOfARecordChangedMeanwhileIsRefusedUntilRetried() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        try Self.client(store).write { db in try db.execute(sql: "DELETE FROM countries WHERE id = 'cn'") }
        try store.update(ref("countries/cn"), [.set("notes", .text("a peer's edit"))], author: "peer")
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.refused.count == 1 && report.refused[0].reason?.contains("changed after this delete") == true)
        #expect(try store.record(ref("countries/cn"))?.exists == true)
        #expect(try store.retrySQLEdits(nil, author: "ana").report.applied == 1)
        #expect(try store.record(ref("countries/cn"))?.exists == false)
    }

    @Test func idsThatAreNotRecordIDsAreRefusedByTheTrigger() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let client = try Self.client(store)
        for sql in ["INSERT INTO countries(id, name) VALUES ('Bad Id', 'x')", "INSERT INTO countries(id, name) VALUES (x'6364', 'x')",
                    "INSERT INTO countries(id, name) VALUES (' cn', 'x')", "INSERT INTO countries(id, name) VALUES ('_x', 'x')",
                    "INSERT INTO countries(id, name) VALUES ('é', 'x')", "INSERT INTO countries(id, name) VALUES ('', 'x')",
                    "INSERT INTO countries(id, name) VALUES ('ab' || char(0) || ' bad id!', 'x')"] {
            do {
                try client.write { db in try db.execute(sql: sql) }
                Issue.record("accepted: \(sql)")
            } catch let error as DatabaseError {
                #expect(error.message?.contains("an id is text of 1 to 128") == true, "\(sql): \(error)")
            }
        }
        #expect(try !store.hasPendingSQLEdits())
        try client.write { db in try db.execute(sql: "INSERT INTO countries(id, name) VALUES ('ok-1.x_y', 'Fine')") }
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 1)
    }

    @Test func droppedTriggersComeBackOnTheNextOpen() throws {
        let dir = TemporaryDirectory()
        var store: Store? = try Self.seeded(dir)
        try Self.client(store!).write { db in try db.execute(sql: "DROP TRIGGER sync_sql_countries_update") }
        #expect(try store!.restoreSQLCapture())
        #expect(try !store!.restoreSQLCapture())
        try Self.client(store!).write { db in try db.execute(sql: "DROP TRIGGER sync_sql_countries_update") }
        store = nil
        let reopened = try dir.store()
        try Self.client(reopened).write { db in try db.execute(sql: "UPDATE countries SET notes = 'captured' WHERE id = 'cn'") }
        #expect(try reopened.takeUpSQLEdits(author: "ana").applied == 1)
    }

    @Test func manyEditsOfOneRecordAreTakenUpInOrderWithoutReReading() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        try Self.client(store).write { db in
            for index in 0..<300 { try db.execute(sql: "UPDATE countries SET notes = 'n\(index)' WHERE id = 'cn'; UPDATE countries SET notes = 'm\(index)' WHERE id = 'de'") }
        }
        let report = try store.takeUpSQLEdits(author: "ana")
        #expect(report.applied == 600 && report.dots.count == 300)
        #expect(try store.record(ref("countries/cn"))?.value("notes") == .text("n299"))
        #expect(try store.record(ref("countries/de"))?.value("notes") == .text("m299"))
    }

    @Test func aBatchCutByBytesIsStillTheLowestEditsInOrder() throws {
        let dir = TemporaryDirectory()
        let store = try Self.seeded(dir)
        let big = String(repeating: "x", count: 100_000)
        try Self.client(store).write { db in
            for index in 0..<20 {
                try db.execute(sql: "UPDATE countries SET notes = '\(big)\(index)' WHERE id = 'cn'")
                try db.execute(sql: "UPDATE minerals SET notes = 'small \(index)' WHERE id = 'cobalt'")
            }
        }
        let batch = try store.read { db in try Store.queuedSQLEdits(schema: store.schema, pendingOnly: true, limit: 1_000, maxBytes: 7 * 250_000, in: db) }
        #expect(batch.count < 40 && !batch.isEmpty)
        #expect(batch.map(\.edit) == Array(batch.first!.edit...batch.last!.edit), "no gap: the lowest edits, in order")
        #expect(try store.takeUpSQLEdits(author: "ana").applied == 40)
    }

    // MARK: - Search

    static let statusValues = ["'active'", "'proposed'", "'bogus'", "NULL"]
    static let titleValues = ["'T1'", "'Caf' || char(233)", "'Cafe' || char(769)", "NULL", "x'00ff'", "2.5"]
    static let mineralValues = [#"'["minerals/cobalt"]'"#, #"'["minerals/lithium","minerals/cobalt"]'"#, "'[]'", "'not json'", "NULL"]
    static let ids = ["green-minerals-initiative", "cn-rare-earth-export-licensing", "fresh-1", "fresh-2"]

    /// One step of the workload: a SQL statement, a peer's write, or a take-up.
    static func statement(_ op: Int) -> String? {
        let id = "'\(ids[op / 7 % ids.count])'"
        switch op % 7 {
        case 0: return "UPDATE agreements SET status = \(statusValues[op / 31 % statusValues.count]) WHERE id = \(id)"
        case 1: return "UPDATE agreements SET title = \(titleValues[op / 31 % titleValues.count]) WHERE id = \(id)"
        case 2: return "UPDATE agreements SET minerals = \(mineralValues[op / 31 % mineralValues.count]) WHERE id = \(id)"
        case 3: return "INSERT OR IGNORE INTO agreements(id, title, status, minerals) VALUES (\(id), \(titleValues[op / 31 % 4]), \(statusValues[op / 13 % 4]), \(mineralValues[op / 17 % 5]))"
        case 4: return "DELETE FROM agreements WHERE id = \(id)"
        default: return nil
        }
    }

    /// Random statements (valid and not), peers' writes between a statement
    /// and its take-up, and take-ups at random points: after the last
    /// take-up nothing waits, every edit was written or kept with a reason,
    /// the tables equal the replicated state byte for byte, and a second
    /// replica that pulls ends with the same digest.
    @Test func randomStatementsNeverLeaveTablesAndStateApart() async throws {
        await propertyCheck(count: 40, input: Gen.int(in: 0...1_000_000).array(of: 1...30)) { ops in
            let dir = TemporaryDirectory()
            let store = try! Self.seeded(dir)
            let client = try! Self.client(store)
            var queued = 0, written = 0, refused = 0
            func takeUp() {
                let report = try! store.takeUpSQLEdits(author: "ana", batch: 3)
                written += report.applied + report.unchanged
                refused += report.refusedCount
                #expect(report.refused.allSatisfy { !($0.reason ?? "").isEmpty })
            }
            for op in ops {
                if let sql = Self.statement(op) {
                    // Some statements fail in the trigger or on a constraint: nothing is queued then.
                    let before = try! client.read { db in try Int.fetchOne(db, sql: "SELECT n FROM sync_sql_counter") ?? 0 }
                    try? client.write { db in try db.execute(sql: sql) }
                    let after = try! client.read { db in try Int.fetchOne(db, sql: "SELECT n FROM sync_sql_counter") ?? 0 }
                    queued += after - before
                } else if op % 7 == 5 {
                    let target = ref("agreements/\(Self.ids[op / 7 % Self.ids.count])")
                    _ = try? store.update(target, [.set(op % 2 == 0 ? "status" : "summary", .text(op % 2 == 0 ? "expired" : "peer \(op)"))], author: "peer")
                } else {
                    takeUp()
                }
            }
            takeUp()
            #expect(try! !store.hasPendingSQLEdits())
            #expect(written + refused == queued, "every queued edit was written or kept")
            #expect(try! store.sqlEditCounts().refused == refused)
            #expect(try! store.viewDrift().count == 0, "tables equal the replicated state")
            let other = try! dir.store("other.db")
            try! pull(into: other, from: store)
            #expect(try! other.digest() == store.digest())
        }
    }
}
