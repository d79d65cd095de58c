import Foundation
import GRDB
import PropertyBased
import Synchronization
import Testing
@testable import SyncCore
import TestSupport

/// Storage format 5 keeps a slot's first state out of `sync_history` until
/// the slot changes (docs/architecture.md "History"). What readers show must
/// not depend on it: the same operations on stores with it on and off (same
/// replica ids, same clock) give the same history of every record and the
/// same recent changes, page by page.
@Suite("Deferred history", .serialized, .timeLimit(.minutes(5)))
struct DeferredHistoryTests {
    static let records = ["countries/aa", "countries/bb", "agreements/x1", "minerals/li"]

    /// Two replicas (the store under test and a peer), each with a fixed
    /// clock and a seeded id, so two worlds made alike issue equal dots.
    struct World {
        let stores: [Store]

        init(_ dir: TemporaryDirectory, name: String, deferred: Bool) throws {
            stores = try (0..<2).map { index in
                var options = Store.Options()
                options.deferFirstHistory = deferred
                options.wallClock = { 1_800_000_000_000 }
                let random = Mutex(UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
                options.random = { random.withLock { $0 = $0 &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407; return $0 } }
                return try Store(path: dir.path("\(name)-\(index).db"), schema: .criticalMinerals, options: options)
            }
        }
    }

    static func step(_ world: World, op: Int) {
        let store = world.stores[op % 2]
        let target = ref(records[op / 2 % records.count])
        let author = "analyst\(op % 3)"
        do {
            switch (op / 8) % 9 {
            case 0:
                switch target.collection {
                case "countries": try store.create(target, [.set("name", .text("N\(op % 4)"))], author: author)
                case "minerals": try store.create(target, [.set("name", .text("Lithium")), .add("uses", "u\(op % 3)")], author: author)
                default: try store.create(target, [.set("title", .text("T\(op % 4)")), .add("parties", "countries/aa")], author: author)
                }
            case 1:
                try store.delete(target, author: author)
            case 2, 3:
                let field = target.collection == "agreements" ? "summary" : "notes"
                try store.update(target, [.set(field, .text("v\(op % 3)"))], author: author)
            case 4:
                if target.collection == "minerals" { try store.update(target, [.add("uses", "u\(op % 4)")], author: author) }
                if target.collection == "agreements" { try store.update(target, [.remove("parties", "countries/aa")], author: author) }
            case 5:
                let rows = try RecordFile.parse("id,name,notes\nbb,Imported \(op % 3),n\(op % 2)\ncc,C,\n", format: .csv, collection: "countries",
                                                schema: store.schema)
                _ = try store.importRows(rows, author: author)
            default:
                // Merges both ways: first states arrive, and change slots that have one.
                _ = try pull(into: store, from: world.stores[1 - op % 2], batchSize: 1 + op % 5)
            }
        } catch {
            // Refusals (missing record, existence in conflict) are part of the workload.
        }
    }

    static func history(_ store: Store) throws -> [String] {
        try (records + ["countries/cc"]).flatMap { name in
            try store.history(ref(name)).map {
                "\($0.key) \($0.version.dot) \($0.version.hlc.raw) \($0.version.author) \($0.version.value) at \($0.appliedSeq) \($0.isCurrent)"
            }.sorted()
        }
    }

    static func change(_ change: AppliedChange) -> String {
        "\(change.seq) \(change.ref) \(change.field) \(change.element) \(change.version.dot) \(change.version.value)"
    }

    /// Recent changes as pages of `limit`, walked back with `beforeSeq`, each page as a sorted list.
    static func pages(_ store: Store, limit: Int, sinceSeq: UInt64?) throws -> [[String]] {
        var pages: [[String]] = []
        var before: UInt64?
        for _ in 0..<200 {
            let page = try store.recentChanges(ChangeFilter(sinceSeq: sinceSeq, beforeSeq: before, limit: limit))
            pages.append(page.changes.map(change).sorted())
            guard page.more, let last = page.changes.last else { break }
            before = last.seq
        }
        return pages
    }

    @Test func readersShowTheSameWithHistoryDeferredOrNot() async throws {
        await propertyCheck(count: 30, input: Gen.int(in: 0...100_000).array(of: 5...60)) { ops in
            let dir = TemporaryDirectory()
            let deferred = try! World(dir, name: "on", deferred: true)
            let eager = try! World(dir, name: "off", deferred: false)
            for op in ops {
                Self.step(deferred, op: op)
                Self.step(eager, op: op)
            }
            for (on, off) in zip(deferred.stores, eager.stores) {
                #expect(try! on.digest() == off.digest(), "the worlds diverged: the test's premise fails")
                #expect(try! Self.history(on) == Self.history(off))
                let highest = try! on.highestSeq()
                for (limit, since) in [(100, nil), (1, nil), (3, nil), (2, highest / 2)] as [(Int, UInt64?)] {
                    #expect(try! Self.pages(on, limit: limit, sinceSeq: since) == Self.pages(off, limit: limit, sinceSeq: since),
                            "recent changes differ (limit \(limit), since \(since.map(String.init) ?? "-"))")
                }
            }
        }
    }

    /// An import of new records writes no history row; the first change of
    /// a slot writes its first version (at the seq it was applied) and the
    /// new one; a snapshot of the store verifies.
    @Test func anImportWritesNoHistoryUntilASlotChanges() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let rows = try RecordFile.parse("id,name,notes\nzz,Zed,first\nyy,Why,\n", format: .csv, collection: "countries", schema: store.schema)
        let imported = try store.importRows(rows, author: "ana")
        let historyRows = { try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sync_history") ?? -1 } }
        #expect(try historyRows() == 0)
        let importSeq = try store.highestSeq()
        #expect(imported.created == 2)
        #expect(try store.history(ref("countries/zz")).map(\.version.value).contains(.text("first")))
        try store.update(ref("countries/zz"), [.set("notes", .text("second"))], author: "bo")
        #expect(try historyRows() == 1)
        let notes = try store.history(ref("countries/zz"), field: "notes")
        #expect(notes.map(\.version.value) == [.text("first"), .text("second")])
        // Applied with the import (zz took the import's first seq), then with the update.
        #expect(notes.first.map(\.appliedSeq).map { $0 < importSeq } == true)
        #expect(notes.last?.appliedSeq == (try store.highestSeq()))
        #expect(notes.map(\.isCurrent) == [false, true])
        let snapshot = dir.url.appendingPathComponent("s.\(Snapshots.fileExtension)")
        _ = try Snapshots.create(from: store, to: snapshot)
        #expect(try Snapshots.verify(snapshot).isEmpty)
        // A mark at or above yy's import seq says yy's deferred slots are in history: they are not.
        let queue = try DatabaseQueue(path: snapshot.path)
        try queue.write { try $0.execute(sql: "UPDATE sync_meta SET value = ? WHERE key = 'deferred_history_since'", arguments: [Int64(importSeq)]) }
        try queue.close()
        #expect(try Snapshots.verify(snapshot).contains { $0.contains("countries/yy") && $0.contains("at or below the file's mark") })
    }

    /// A scan cut by its row limit never leaves a hole in a page: with a
    /// filter that matches rarely, the history and the feed stop at very
    /// different depths; every page shows exactly the matches between its
    /// newest and oldest seq that a scan without limit finds (the review's
    /// case: bo's imported slots under many of carol's records).
    @Test func aTruncatedScanLeavesNoHoleInAPage() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        func importCountries(_ ids: Range<Int>, author: String) throws {
            let lines = ["id,name"] + ids.map { "c\($0),Name \($0)" }
            _ = try store.importRows(try RecordFile.parse(lines.joined(separator: "\n") + "\n", format: .csv, collection: "countries", schema: store.schema),
                                     author: author)
        }
        try importCountries(0..<20, author: "bo")
        for id in 0..<5 { try store.update(ref("countries/c\(id)"), [.set("notes", .text("edited"))], author: "bo") }
        try importCountries(100..<200, author: "carol")
        // Carol's edits, twice over: history rows (the second edit of a slot
        // writes one) well past the scan limit, so that scan is cut too.
        for round in 0..<2 {
            for id in 100..<160 { try store.update(ref("countries/c\(id)"), [.set("notes", .text("carol \(round)"))], author: "carol") }
        }
        for id in 100..<103 { try store.update(ref("countries/c\(id)"), [.set("role", .text("bo was here"))], author: "bo") }
        let everything = try store.recentChanges(ChangeFilter(author: "bo", limit: ChangeFilter.maxLimit), scanLimit: .max).changes
        #expect(everything.count > 40)
        // The premise: both sources hold more rows than the scan limit.
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sync_history") ?? 0 } > 30)
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sync_feed") ?? 0 } > 30)
        for limit in [1, 5, 10] {
            var before: UInt64?
            for _ in 0..<100 {
                let page = try store.recentChanges(ChangeFilter(beforeSeq: before, author: "bo", limit: limit), scanLimit: 30)
                guard let newest = page.changes.first?.seq, let oldest = page.changes.last?.seq else { break }
                let expected = everything.filter { $0.seq <= newest && $0.seq >= oldest }.map(Self.change).sorted()
                #expect(page.changes.map(Self.change).sorted() == expected, "limit \(limit), page \(oldest)...\(newest): a hole")
                if let previous = before, !page.truncated {
                    // Nothing skipped between the pages either.
                    #expect(everything.filter { $0.seq < previous && $0.seq > newest }.isEmpty, "limit \(limit): matches between pages skipped")
                }
                guard page.more else { break }
                before = oldest
            }
        }
    }

    /// A file of format 4 (every live version in history) opened to write
    /// records the seq below which no slot defers its history, so the feed
    /// is not walked below it.
    @Test func anUpgradedFileRecordsWhereDeferredHistoryStarts() throws {
        let dir = TemporaryDirectory()
        var options = Store.Options()
        options.deferFirstHistory = false
        do {
            let store = try dir.store("old.db", options: options)
            try store.seed(SeedData.criticalMinerals())
        }
        let queue = try DatabaseQueue(path: dir.path("old.db"))
        try queue.write { db in
            try db.execute(sql: "UPDATE sync_meta SET value = 4 WHERE key = 'format'")
            try db.execute(sql: "DELETE FROM sync_meta WHERE key = 'deferred_history_since'")
        }
        try queue.close()
        let store = try dir.store("old.db")
        let highest = try store.highestSeq()
        #expect(try store.read { try $0.deferredHistorySince() } == Int64(highest))
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT value FROM sync_meta WHERE key = 'format'") } == StoreTables.formatVersion)
        let all = try store.recentChanges(ChangeFilter(limit: ChangeFilter.maxLimit)).changes
        #expect(Set(all.map { "\($0.ref) \($0.field) \($0.element) \($0.version.dot)" }).count == all.count, "a change shown twice")
    }

    /// A record row or a history row that does not decode (a damaged file)
    /// fails the recent-changes read with the record it is in, as
    /// `history(ref)` does, instead of a page that silently leaves it out.
    @Test(arguments: ["UPDATE sync_records SET slots = x'05' WHERE collection = 'countries'",
                      "UPDATE sync_history SET entries = x'05'",
                      "UPDATE sync_history SET seq = 'x'"])
    func aRowThatDoesNotDecodeFailsTheRead(damage: String) throws {
        let dir = TemporaryDirectory()
        do {
            let store = try dir.store("data.db")
            try store.seed(SeedData.criticalMinerals())
            let ref = RecordRef(collection: "countries", id: try #require(store.list("countries").first).ref.id)
            _ = try store.update(ref, [.set("name", .text("changed"))], author: "ana")
            #expect(try store.recentChanges(ChangeFilter(limit: ChangeFilter.maxLimit)).changes.count > 0)
        }
        let queue = try DatabaseQueue(path: dir.path("data.db"))
        try queue.write { try $0.execute(sql: damage) }
        try queue.close()
        let store = try dir.store("data.db")
        let error = #expect(throws: StoreError.self) { try store.recentChanges(ChangeFilter(limit: ChangeFilter.maxLimit)) }
        #expect(error.map { !ReadFailure.passes($0) } == true, "damage, which the live feed tells (run `syncctl check`)")
    }

    /// What the live feed tells apart: a database locked by another
    /// connection passes (it reloads quietly); a file that is not a
    /// database is damage.
    @Test func busyPassesAndAFileThatIsNotADatabaseIsDamage() throws {
        let dir = TemporaryDirectory()
        let path = dir.path("data.db")
        let writer = try DatabaseQueue(path: path)
        try writer.write { try $0.execute(sql: "CREATE TABLE t(x)") }
        var configuration = Configuration()
        configuration.busyMode = .immediateError
        let reader = try DatabaseQueue(path: path, configuration: configuration)
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN EXCLUSIVE")
            let busy = #expect(throws: DatabaseError.self) { try reader.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM t") } }
            #expect(busy?.resultCode == .SQLITE_BUSY && busy.map(ReadFailure.passes) == true, "\(String(describing: busy))")
            try db.execute(sql: "ROLLBACK")
        }
        try FileManager.default.createDirectory(atPath: dir.path("x"), withIntermediateDirectories: true)
        let garbage = dir.path("x/not.db")
        try Data(repeating: 0x5A, count: 8_192).write(to: URL(fileURLWithPath: garbage))
        let damaged = #expect(throws: DatabaseError.self) {
            let queue = try DatabaseQueue(path: garbage)
            _ = try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sqlite_master") }
        }
        #expect(damaged.map(ReadFailure.passes) == false, "\(String(describing: damaged))")
        #expect(ReadFailure.passes(CancellationError()))
    }
}
