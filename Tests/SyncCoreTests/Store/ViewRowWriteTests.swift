import Foundation
import GRDB
import PropertyBased
import Testing
@testable import SyncCore
import TestSupport

/// A collection table row is rewritten column by column: only the columns
/// whose stored bytes differ from the record's reading are written
/// (`CollectionViews.write`). These tests hold that to the rule it replaces,
/// "the row equals the reading after every transaction" (replication-model §8),
/// over random programs of local writes, merges and conflicts, with text that
/// looks equal but is not, and with rows an outside writer changed.
@Suite("Collection rows written by difference", .serialized, .timeLimit(.minutes(3)))
struct ViewRowWriteTests {
    /// Titles that look alike: NFC and NFD "é", a trailing space, digits (a
    /// TEXT column), empty.
    static let titles = ["Caf\u{E9}", "Cafe\u{301}", "Caf\u{E9} ", "12", "", "Lithium"]
    static let kinds = ["initiative", "concession", "supply", "export-control", "license"]
    static let parties = ["countries/cn", "countries/au", "countries/zw"]

    enum Step {
        case write(store: Int, record: Int, choice: Int)
        case delete(store: Int, record: Int)
        case merge(from: Int)
        case tamper(store: Int, record: Int, choice: Int)
    }

    static func step(_ number: Int) -> Step {
        let store = number & 1, record = (number >> 1) % 4, choice = (number >> 3) % 64
        switch (number >> 9) % 10 {
        case 0: return .delete(store: store, record: record)
        case 1, 2: return .merge(from: store)
        case 3: return .tamper(store: store, record: record, choice: choice)
        default: return .write(store: store, record: record, choice: choice)
        }
    }

    /// After every step each store's tables equal the readings of its slots,
    /// except rows an outside writer changed and no transaction has touched
    /// since (those are reported as drift, as before).
    @Test func rowsEqualTheReadingAfterEveryStep() async throws {
        // A program is drawn from a seed and a length (as in BatchMergeTests):
        // uniform steps, and a failing case shrinks in a few steps.
        await propertyCheck(count: 30, input: Gen.int(in: 0...Int(UInt32.max)), Gen.int(in: 10...50)) { seed, length in
            var random = UInt64(seed) &+ 1
            let numbers = (0..<length).map { _ in
                random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Int(random >> 33)
            }
            let dir = TemporaryDirectory()
            let stores = [try dir.store("ana.db"), try dir.store("bo.db")]
            var tampered: [Set<String>] = [[], []]
            for number in numbers {
                switch Self.step(number) {
                case .write(let store, let record, let choice):
                    let id = "agreements/r\(record)"
                    // Always changes something: a fresh summary rides along.
                    var edits: [FieldEdit] = [.set("summary", .text("step \(number)"))]
                    switch choice % 4 {
                    case 0: edits.append(.set("title", .text(Self.titles[choice / 4 % Self.titles.count])))
                    case 1: edits.append(.set("kind", .text(Self.kinds[choice / 4 % Self.kinds.count])))
                    case 2: edits.append(.add("parties", Self.parties[choice / 4 % Self.parties.count]))
                    default: edits.append(.remove("parties", Self.parties[choice / 4 % Self.parties.count]))
                    }
                    if try stores[store].record(ref(id)) == nil {
                        _ = try stores[store].create(ref(id), edits, author: "t")
                    } else {
                        _ = try stores[store].update(ref(id), edits, author: "t")
                    }
                    tampered[store].remove("r\(record)")
                case .delete(let store, let record):
                    if try stores[store].record(ref("agreements/r\(record)")) != nil {
                        _ = try stores[store].delete(ref("agreements/r\(record)"), author: "t")
                        tampered[store].remove("r\(record)")
                    }
                case .merge(let from):
                    let to = 1 - from
                    let before = try Self.rows(stores[to])
                    _ = try pull(into: stores[to], from: stores[from])
                    // A record the merge changed was rewritten: its tampering is gone.
                    let after = try Self.rows(stores[to])
                    for id in tampered[to] where try Self.slotsChanged(stores[to], id, before: before, after: after) { tampered[to].remove(id) }
                case .tamper(let store, let record, let choice):
                    let changed = try stores[store].withWriteTransaction { db -> Int in
                        try db.execute(sql: "UPDATE agreements SET title = ?, kind = ? WHERE id = ?",
                                       arguments: [Self.titles[choice % Self.titles.count], choice % 2 == 0 ? "supply" : nil, "r\(record)"])
                        return db.changesCount
                    }
                    if changed > 0 { tampered[store].insert("r\(record)") }
                }
                for (index, store) in stores.enumerated() {
                    let drifted = Set(try store.viewDrift().drift.map(\.ref.id))
                    #expect(drifted.isSubset(of: tampered[index]), "store \(index) after \(Self.step(number)): rows that differ from the reading \(drifted.subtracting(tampered[index]).sorted())")
                }
            }
        }
    }

    /// Each record's stored slots blob, by id (to tell which records a merge rewrote).
    static func rows(_ store: Store) throws -> [String: Data] {
        try store.withWriteTransaction { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT record, slots FROM sync_records WHERE collection = 'agreements'")
                .map { ($0[0] as String, $0[1] as Data) })
        }
    }

    static func slotsChanged(_ store: Store, _ id: String, before: [String: Data], after: [String: Data]) throws -> Bool {
        before[id] != after[id]
    }

    /// The same value written by two replicas with different bytes that
    /// look alike (NFC and NFD): the row holds exactly the bytes the reading
    /// holds, and an index on a changed column finds the row by its new value.
    @Test func lookAlikeTextIsRewrittenByItsBytes() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        _ = try store.create(ref("agreements/x"), [.set("title", .text("Caf\u{E9}")), .set("kind", .text("supply"))], author: "t")
        _ = try store.update(ref("agreements/x"), [.set("title", .text("Cafe\u{301}"))], author: "t")
        _ = try store.update(ref("agreements/x"), [.set("kind", .text("license"))], author: "t")
        let (title, supply, license) = try store.withWriteTransaction { db in
            (try Data.fetchOne(db, sql: "SELECT CAST(title AS BLOB) FROM agreements WHERE id = 'x'"),
             try Int.fetchOne(db, sql: "SELECT count(*) FROM agreements INDEXED BY agreements_by_kind WHERE kind = 'supply'"),
             try Int.fetchOne(db, sql: "SELECT count(*) FROM agreements INDEXED BY agreements_by_kind WHERE kind = 'license'"))
        }
        #expect(title == Data("Cafe\u{301}".utf8))
        #expect(supply == 0 && license == 1)
        #expect(try store.viewDrift().count == 0)
        #expect(try store.withWriteTransaction { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") } == "ok")
    }

    /// Concurrent titles: the merge that makes the record conflicted sets the
    /// row's flag (and only it changes: the title read stays the same), the
    /// write that settles it clears the flag.
    @Test func theConflictedFlagFollowsTheReading() throws {
        let dir = TemporaryDirectory()
        let ana = try dir.store("ana.db"), bo = try dir.store("bo.db")
        _ = try ana.create(ref("agreements/x"), [.set("title", .text("A"))], author: "t")
        _ = try pull(into: bo, from: ana)
        _ = try ana.update(ref("agreements/x"), [.set("title", .text("B"))], author: "t")
        _ = try bo.update(ref("agreements/x"), [.set("title", .text("C"))], author: "t")
        _ = try pull(into: bo, from: ana)
        func flag() throws -> Int? { try bo.withWriteTransaction { db in try Int.fetchOne(db, sql: "SELECT conflicted FROM agreements WHERE id = 'x'") } }
        #expect(try flag() == 1)
        #expect(try bo.viewDrift().count == 0)
        _ = try bo.update(ref("agreements/x"), [.set("title", .text("D"))], author: "t")
        #expect(try flag() == 0)
        #expect(try bo.viewDrift().count == 0)
    }

    /// A changed column of a stored record is updated in place: the row
    /// keeps its rowid (a replaced row would get a new one, and with it a
    /// new primary-key entry and new entries in every index).
    @Test func aChangedRowIsUpdatedInPlace() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        _ = try store.create(ref("agreements/x"), [.set("title", .text("A")), .set("kind", .text("supply"))], author: "t")
        _ = try store.create(ref("agreements/y"), [.set("title", .text("B"))], author: "t")
        func rowid() throws -> Int64? { try store.read { try Int64.fetchOne($0, sql: "SELECT rowid FROM agreements WHERE id = 'x'") } }
        let before = try rowid()
        _ = try store.update(ref("agreements/x"), [.set("title", .text("A2"))], author: "t")
        _ = try store.update(ref("agreements/x"), [.set("kind", .text("license"))], author: "t")
        #expect(try rowid() == before)
        #expect(try store.viewDrift().count == 0)
    }

    /// Review finding (a77fdf8): text that differs only after a NUL byte.
    /// The drift check (`syncctl check`, and the join snapshot check through
    /// the same comparison) reads the row as bytes and reports it; touching
    /// the record rewrites it.
    @Test func driftSeesBytesAfterANul() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        _ = try store.create(ref("agreements/x"), [.set("title", .text("A")), .set("summary", .text("s"))], author: "t")
        try store.withWriteTransaction { db in
            try db.execute(sql: "UPDATE agreements SET title = 'A' || char(0) || 'hidden' WHERE id = 'x'")
        }
        #expect(try store.viewDrift().drift == [ViewDrift(ref: ref("agreements/x"), kind: .differs(columns: ["title"]))])
        _ = try store.update(ref("agreements/x"), [.set("summary", .text("t"))], author: "t")
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT length(CAST(title AS BLOB)) FROM agreements WHERE id = 'x'") } == 1)
        #expect(try store.viewDrift().count == 0)
    }

    /// Review finding: a row whose id was turned into a BLOB is no record's
    /// row (`WHERE id = ?` never finds it): the drift check reports the
    /// record's row missing and the BLOB row extra, rather than taking one
    /// for the other.
    @Test func aBlobIdIsNoRecordsRow() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        _ = try store.create(ref("agreements/x"), [.set("title", .text("A"))], author: "t")
        try store.withWriteTransaction { db in try db.execute(sql: "UPDATE agreements SET id = CAST(id AS BLOB) WHERE id = 'x'") }
        let kinds = try store.viewDrift().drift.filter { $0.ref == ref("agreements/x") }.map(\.kind)
        #expect(kinds.contains(.missingRow) && kinds.contains(.extraRow))
    }

    /// Another program makes a collection table again without its key
    /// while a store is open (its upsert already prepared and cached): a
    /// new record's row is still written (the plain insert, the key being
    /// put back by the next check), not a write that fails until then.
    @Test func aTableMadeAgainWithoutItsKeyWhileOpenStillTakesNewRows() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        _ = try store.create(ref("agreements/x"), [.set("title", .text("first"))], author: "t")
        let other = try DatabaseQueue(path: store.path)
        try other.write { db in
            try db.execute(sql: """
                CREATE TABLE agreements_new AS SELECT * FROM agreements;
                DROP TABLE agreements;
                ALTER TABLE agreements_new RENAME TO agreements;
                """)
        }
        try other.close()
        _ = try store.create(ref("agreements/y"), [.set("title", .text("second"))], author: "t")
        let titles = try store.read { try String.fetchAll($0, sql: "SELECT title FROM agreements WHERE id IN ('x', 'y') ORDER BY id") }
        #expect(titles == ["first", "second"])
    }

    /// An analyst's UNIQUE index on a collection table that a peer's new
    /// record clashes with: the batch is stored whole (slots, digest,
    /// cursor), the other records' rows are written, and the one row the
    /// index refuses is reported (the apply report, `viewDrift`), never the
    /// other record's row removed. Dropping the index and repairing writes it.
    @Test func aUniqueIndexOfTheAnalystsRefusesOneRowNotThePeersBatch() throws {
        let dir = TemporaryDirectory()
        let warnings = Warnings()
        var options = Store.Options()
        options.logger = warnings.logger
        let ana = try dir.store("ana.db", options: options), bo = try dir.store("bo.db")
        _ = try ana.create(ref("agreements/a"), [.set("title", .text("Same"))], author: "t")
        _ = try pull(into: bo, from: ana)
        try ana.withWriteTransaction { db in try db.execute(sql: "CREATE UNIQUE INDEX own_titles ON agreements(title)") }
        _ = try bo.create(ref("agreements/b"), [.set("title", .text("Same"))], author: "t")
        _ = try bo.create(ref("agreements/c"), [.set("title", .text("Other"))], author: "t")
        let cursor = try ana.cursor(for: try bo.replicaID)
        let batch = try bo.changes(since: cursor, maxCount: 100, maxBytes: 1 << 20, for: try ana.replicaID)
        let report = try ana.apply(batch.changes, from: try bo.replicaID, cursor: batch.cursor, peerHighest: batch.highest)
        #expect(report.refusedRows.count == 1 && report.refusedRows.listed.map(\.ref) == [ref("agreements/b")], "\(report.refusedRows)")
        #expect(report.refusedRows.listed.first?.reason.contains("own_titles") == true || report.refusedRows.listed.first?.reason.contains("agreements.title") == true, "\(report.refusedRows)")
        let logged = warnings.list.withLock { $0 }
        #expect(logged.contains { $0.contains("refused rows of received records") && $0.contains("syncctl check") }, "\(logged)")
        #expect(try ana.digest() == bo.digest())
        #expect(try ana.record(ref("agreements/b")) != nil)
        let ids = try ana.read { try String.fetchAll($0, sql: "SELECT id FROM agreements WHERE id IN ('a', 'b', 'c') ORDER BY id") }
        #expect(ids == ["a", "c"], "the other record's row stays; the clashing one is not written")
        #expect(try ana.viewDrift().drift.map(\.ref) == [ref("agreements/b")])
        #expect(try ana.layoutProblems().uniqueIndexes.count == 1)
        try ana.withWriteTransaction { db in try db.execute(sql: "DROP INDEX own_titles") }
        _ = try ana.repairViews()
        #expect(try ana.viewDrift().count == 0)
    }

    /// An index of the analyst's on an expression that raises an error for
    /// one value (`json_extract` of text that is not JSON: SQLite's plain
    /// error, not a constraint's): that row alone is held back, the batch
    /// stored whole. Refused whole, the batch would come back and fail on
    /// every pull. Dropped and repaired, the row is written.
    @Test func anExpressionOfTheAnalystsThatRaisesHoldsBackOneRow() throws {
        let dir = TemporaryDirectory()
        let ana = try dir.store("ana.db"), bo = try dir.store("bo.db")
        _ = try ana.create(ref("agreements/a"), [.set("title", .text("Plain"))], author: "t")
        _ = try pull(into: bo, from: ana)
        try ana.withWriteTransaction { db in
            try db.execute(sql: "CREATE INDEX own_json ON agreements(json_extract(title, '$.k')) WHERE title LIKE '{%'")
        }
        _ = try bo.create(ref("agreements/b"), [.set("title", .text("{not json"))], author: "t")
        _ = try bo.create(ref("agreements/c"), [.set("title", .text("Other"))], author: "t")
        let batch = try bo.changes(since: try ana.cursor(for: try bo.replicaID), maxCount: 100, maxBytes: 1 << 20, for: try ana.replicaID)
        let report = try ana.apply(batch.changes, from: try bo.replicaID, cursor: batch.cursor, peerHighest: batch.highest)
        #expect(report.refusedRows.listed.map(\.ref) == [ref("agreements/b")], "\(report.refusedRows)")
        #expect(report.refusedRows.listed.first?.reason.contains("JSON") == true, "\(report.refusedRows)")
        #expect(try ana.digest() == bo.digest())
        #expect(try ana.cursor(for: try bo.replicaID) == batch.cursor)
        let ids = try ana.read { try String.fetchAll($0, sql: "SELECT id FROM agreements WHERE id IN ('a', 'b', 'c') ORDER BY id") }
        #expect(ids == ["a", "c"])
        #expect(try ana.viewDrift().drift.map(\.ref) == [ref("agreements/b")])
        try ana.withWriteTransaction { db in try db.execute(sql: "DROP INDEX own_json") }
        _ = try ana.repairViews()
        #expect(try ana.viewDrift().count == 0)
    }

    /// A table made again with its own conflict clause on a UNIQUE column
    /// (the store's connections run with triggers off, so a constraint is
    /// what can refuse a row): ABORT and FAIL undo that row's statement
    /// alone, so the batch is stored and the row reported; ROLLBACK ends the
    /// whole transaction, so nothing of the batch is stored (it comes again)
    /// and the store goes on working.
    @Test func aConflictClauseRefusesOneRowOrTheWholeBatch() throws {
        for (clause, wholeBatch) in [("ABORT", false), ("ROLLBACK", true), ("FAIL", false)] {
            let dir = TemporaryDirectory()
            let ana = try dir.store("ana.db"), bo = try dir.store("bo.db")
            _ = try ana.create(ref("agreements/a"), [.set("title", .text("Same"))], author: "t")
            _ = try pull(into: bo, from: ana)
            try ana.withWriteTransaction { db in
                try remakeTable("agreements", replacing: "\"title\" TEXT", with: "\"title\" TEXT UNIQUE ON CONFLICT \(clause)", in: db)
            }
            _ = try bo.create(ref("agreements/b"), [.set("title", .text("Same"))], author: "t")
            _ = try bo.create(ref("agreements/c"), [.set("title", .text("Other"))], author: "t")
            let before = try ana.digest(), cursor = try ana.cursor(for: try bo.replicaID)
            if wholeBatch {
                #expect(throws: DatabaseError.self, "\(clause)") { try pull(into: ana, from: bo) }
                #expect(try ana.digest() == before, "\(clause): nothing of the batch stored")
                #expect(try ana.cursor(for: try bo.replicaID) == cursor, "\(clause): the cursor stays, so the batch comes again")
                #expect(try ana.record(ref("agreements/c")) == nil)
                _ = try ana.create(ref("agreements/d"), [.set("title", .text("later"))], author: "t")
                #expect(try ana.record(ref("agreements/d")) != nil, "the store goes on")
            } else {
                _ = try pull(into: ana, from: bo)
                #expect(try ana.digest() == bo.digest(), "\(clause)")
                let ids = try ana.read { try String.fetchAll($0, sql: "SELECT id FROM agreements ORDER BY id") }
                #expect(ids == ["a", "c"], "\(clause)")
                #expect(try ana.viewDrift().drift.map(\.ref) == [ref("agreements/b")], "\(clause)")
            }
        }
    }

    /// A row held back by the analyst's index, then a batch that adds a
    /// field the held-back record holds a value of: laying the table out
    /// again rewrites that record's row, which the index refuses again; the
    /// batch is still stored whole, not refused on every retry.
    @Test func aFieldAddedAfterARowWasHeldBackDoesNotStallTheBatch() throws {
        let dir = TemporaryDirectory()
        let ana = try dir.store("ana.db"), bo = try dir.store("bo.db")
        _ = try ana.create(ref("agreements/a"), [.set("title", .text("Same"))], author: "t")
        _ = try pull(into: bo, from: ana)
        try ana.withWriteTransaction { db in try db.execute(sql: "CREATE UNIQUE INDEX own_titles ON agreements(title)") }
        _ = try bo.create(ref("agreements/b"), [.set("title", .text("Same"))], author: "t")
        _ = try pull(into: ana, from: bo)
        // Data first, then its field (as a peer that learned them apart sends them).
        let visitor = try dir.store("visitor.db")
        _ = try pull(into: visitor, from: bo)
        try visitor.changeSchema(.addField(collection: "agreements", field: "value_usd", type: "text", values: [], targets: [], description: nil), author: "t")
        _ = try visitor.update(ref("agreements/b"), [.set("value_usd", .text("12"))], author: "t")
        _ = try pull(into: ana, from: visitor)
        #expect(try ana.digest() == visitor.digest())
        #expect(try ana.viewDrift().drift.map(\.ref) == [ref("agreements/b")])
        try ana.withWriteTransaction { db in try db.execute(sql: "DROP INDEX own_titles") }
        _ = try ana.repairViews()
        #expect(try ana.read { try String.fetchOne($0, sql: "SELECT value_usd FROM agreements WHERE id = 'b'") } == "12")
    }
}
