import Foundation
import PropertyBased
import Testing
@testable import SyncCore
import TestSupport

/// The web app's table: keyset pages over a filtered, searched, sorted
/// collection. Walking every page must give each matching record exactly
/// once, in SQLite's byte order of (sort value, id), whatever writes and
/// page size; and `sqlite3` must be able to run the very same SQL.
@Suite struct RecordPageTests {
    static let statuses = ["proposed", "negotiating", "active", "suspended", "expired"]

    @Test func walkingEveryPageGivesEachMatchOnceInByteOrder() async throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("pages.db")
        // Titles collide often and differ by spelling only (NFC vs NFD "é",
        // case), ids include characters LIKE treats specially.
        let titles = ["Café", "Cafe\u{301}", "cafe", "Zinc 50% deal", "A_b", nil, "Lithium", "lithium", "Ω"]
        for n in 0..<60 {
            var edits: [FieldEdit] = [.set("title", .text(titles[n % titles.count] ?? "untitled"))]
            if titles[n % titles.count] == nil { edits = [.set("title", .text("t\(n)"))] }
            edits.append(.set("status", n % 7 == 0 ? .null : .text(Self.statuses[n % Self.statuses.count])))
            if n % 3 == 0 { edits.append(.add("minerals", "minerals/m\(n % 4)")) }
            try store.create(RecordRef(collection: "agreements", id: "r\(n % 10)_\(n)"), edits, author: "t")
        }
        let all = try store.list("agreements")
        await propertyCheck(count: 60, input: Gen.int(in: 0...4), Gen.int(in: 1...17), Gen.bool, Gen.int(in: 0...5)) { sortChoice, limit, descending, filterChoice in
            let sort = [nil, "title", "status", "kind", "announced"][sortChoice]
            var query = RecordPageQuery(collection: "agreements", sort: sort, descending: descending, limit: limit)
            var expected = all
            switch filterChoice {
            case 1:
                query.filters = [("status", .text("active"))]
                expected = all.filter { $0.values["status"] == .text("active") }
            case 2:
                query.search = "caf"
                expected = all.filter { record in ["title"].contains { (record.values[$0]?.description ?? "").lowercased().contains("caf") } || record.ref.id.contains("caf") }
            case 3:
                query.search = "50%"
                expected = all.filter { ($0.values["title"]?.description ?? "").contains("50%") }
            case 4:
                query.filters = [("minerals", .text("minerals/m0"))]
                expected = all.filter { $0.members["minerals"]?.contains("minerals/m0") == true }
            case 5:
                query.search = "_"
                expected = all.filter { ($0.values["title"]?.description ?? "").contains("_") || $0.ref.id.contains("_") }
            default: break
            }
            func key(_ record: ListedRecord) -> ([UInt8], [UInt8]) {
                let value = sort.flatMap { record.values[$0] }
                let bytes: [UInt8] = if case .text(let text) = value { Array(text.utf8) } else { [] }
                return (bytes, Array(record.ref.id.utf8))
            }
            expected.sort { a, b in
                let (ka, kb) = (key(a), key(b))
                let ascending = ka.0 == kb.0 ? ka.1.lexicographicallyPrecedes(kb.1) : ka.0.lexicographicallyPrecedes(kb.0)
                return descending ? !ascending && (ka.0 != kb.0 || ka.1 != kb.1) : ascending
            }
            var walked: [String] = []
            var pages = 0
            repeat {
                let page = try store.page(query)
                walked += page.records.map(\.ref.id)
                #expect(page.records.count <= limit)
                query.after = page.next
                pages += 1
            } while query.after != nil && pages < 200
            #expect(walked == expected.map(\.ref.id), "sort \(sort ?? "id") \(descending ? "desc" : "asc") limit \(limit) filter \(filterChoice)")
        }
    }

    /// A record given more than 1,000 slots in one batch has its history
    /// row hold a later seq than rows written after it; paging back with
    /// `before_seq` must still give every change exactly once.
    @Test func pagingBackGivesEveryChangeOnceEvenWhenHistoryRowsAreOutOfSeqOrder() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("stragglers.db")
        let replica = ReplicaID(hex: "77777777777777777777777777777777")!
        var counter: UInt64 = 0
        func change(_ collection: String, _ id: String, _ field: String, _ element: String = "", _ value: Value) -> SlotChange {
            counter += 1
            let version = Version(dot: Dot(replica: replica, counter: counter), hlc: HLC(millis: 1_763_942_400_000 + counter, logical: 0), author: "peer", value: value)
            return SlotChange(key: SlotKey(collection: collection, record: id, field: field, element: element), state: SlotMerge.write(version, over: .empty))
        }
        var batch = [change("minerals", "big", "_exists", "", .bool(true)), change("minerals", "big", "name", "", .text("Big"))]
        batch += (0..<1_000).map { change("minerals", "big", "uses", "use \($0)", .bool(true)) }
        for n in 0..<150 { batch += [change("countries", "c\(n)", "_exists", "", .bool(true)), change("countries", "c\(n)", "name", "", .text("C\(n)"))] }
        batch.append(change("minerals", "big", "uses", "the last use", .bool(true)))
        try store.apply(batch, from: replica)
        let all = try store.recentChanges(ChangeFilter(limit: ChangeFilter.maxLimit)).changes
        for limit in [7, 100, 333] {
            var walked: [String] = []
            var before: UInt64?
            var pages = 0
            while pages < 2_000 {
                let page = try store.recentChanges(ChangeFilter(beforeSeq: before, limit: limit))
                walked += page.changes.map { "\($0.ref) \($0.field) \($0.element)" }
                pages += 1
                guard page.more, let last = page.changes.last else { break }
                before = last.seq
            }
            #expect(walked.count == batch.count, "limit \(limit): \(walked.count) of \(batch.count) changes")
            #expect(Set(walked).count == walked.count, "limit \(limit): a change shown twice")
            #expect(walked.contains("minerals/big uses the last use"))
        }
        // A page never splits a seq: the 1,002 changes sharing the first seq come whole.
        #expect(all.count == batch.count)
    }

    /// A sort column holding cells of several storage classes (values of
    /// another type than the field, received from a peer: text and reals in
    /// an INTEGER column) and text longer than a cursor carries: walking every
    /// page gives each record once, in SQLite's own order of the column.
    @Test func pagesSortedByAColumnOfMixedCellsGiveEachRecordOnce() async throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("mixed.db")
        try store.changeSchema(.addField(collection: "countries", field: "rank", type: "integer", values: [], targets: [], description: nil), author: "t")
        let other = ReplicaID(high: 9, low: 7)
        let ranks: [Value] = [.int(3), .int(-2), .text("abc"), .text("1.5"), .text("1e400"), .text("99999999999999999999"), .null,
                              .text(""), .text("2.0"), .int(Int64.max), .text("-0.25"), .text("zz"), .bool(true)]
        let long = String(repeating: "é", count: 300)
        var counter: UInt64 = 0
        var changes: [SlotChange] = []
        for n in 0..<80 {
            // Notes share a 300-character prefix (longer than a cursor's 256 bytes) on most rows.
            let fields: [(String, Value)] = [(SlotKey.existsField, .bool(true)), ("rank", ranks[n % ranks.count]),
                                             ("notes", n % 5 == 0 ? .text("short \(n % 3)") : .text(long + "\(n % 4)"))]
            for (field, value) in fields {
                counter += 1
                let version = Version(dot: Dot(replica: other, counter: counter), hlc: HLC(millis: 1_000, logical: 0), author: "x", value: value)
                changes.append(SlotChange(key: SlotKey(collection: "countries", record: "c\(n)", field: field), state: SlotMerge.write(version, over: .empty)))
            }
        }
        _ = try store.apply(changes, from: other)
        #expect(try store.read { try String.fetchAll($0, sql: "SELECT DISTINCT typeof(rank) FROM countries ORDER BY 1") } == ["integer", "null", "real", "text"])
        await propertyCheck(count: 40, input: Gen.bool, Gen.int(in: 1...13), Gen.bool) { byRank, limit, descending in
            let sort = byRank ? "rank" : "notes"
            let direction = descending ? "DESC" : "ASC"
            let expected = try store.read {
                try String.fetchAll($0, sql: "SELECT id FROM countries ORDER BY ifnull(\(sort), '') \(direction), id \(direction)")
            }
            var query = RecordPageQuery(collection: "countries", sort: sort, descending: descending, limit: limit)
            var walked: [String] = []
            var pages = 0
            repeat {
                let page = try store.page(query)
                walked += page.records.map(\.ref.id)
                if let next = page.next { #expect(next.utf8.count <= PageCursor.maxBytes) }
                query.after = page.next
                pages += 1
            } while query.after != nil && pages < 200
            #expect(walked == expected, "sort \(sort) \(direction) limit \(limit)")
        }
    }

    /// A cursor that carries only the first bytes of a long sort value reads
    /// the row again; when the row changed meanwhile (its first bytes too, or
    /// only its end, past the carried bytes: to the far end of the order),
    /// the next page starts at those bytes: it may show rows again but
    /// skips none.
    @Test func aCutCursorWhoseRowChangedSkipsNoRecord() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("cut.db")
        let long = String(repeating: "x", count: 400)
        for n in 0..<10 { try store.create(RecordRef(collection: "countries", id: "c\(n)"), [.set("name", .text("C\(n)")), .set("notes", .text(long + "\(n)"))], author: "t") }
        for descending in [false, true] {
            // The end of the order in this direction, with the same first bytes.
            for changed in ["changed", descending ? long + "!" : long + "zz"] {
                let first = try store.page(RecordPageQuery(collection: "countries", sort: "notes", descending: descending, limit: 3))
                let cursor = try PageCursor.decode(#require(first.next))
                #expect(cursor.isCut)
                let rest = { try store.page(RecordPageQuery(collection: "countries", sort: "notes", descending: descending, after: first.next, limit: 20)) }
                #expect(try rest().records.count == 7)
                try store.update(RecordRef(collection: "countries", id: cursor.id), [.set("notes", .text(changed))], author: "t")
                let after = try rest().records.map(\.ref.id)
                let unseen = (0..<10).map { "c\($0)" }.filter { !first.records.map(\.ref.id).contains($0) && $0 != cursor.id }
                #expect(unseen.allSatisfy(after.contains), "\(descending ? "desc" : "asc"), changed to \(changed.suffix(3)): \(after)")
                try store.update(RecordRef(collection: "countries", id: cursor.id), [.set("notes", .text(long + cursor.id.dropFirst()))], author: "t")
            }
        }
    }

    /// Cursors of the first form (base64url of JSON `[value, id]`), handed
    /// to a browser before an upgrade, still page on.
    @Test func aCursorOfTheFirstFormIsStillRead() throws {
        let json = Data(#"[7,"c3"]"#.utf8).base64EncodedString()
        let cursor = try PageCursor.decode(json)
        #expect(cursor.sortCell == .integer(7) && cursor.id == "c3" && !cursor.isCut)
        for cell: SQLCell? in [nil, .integer(-5), .real(1.5), .text(Array("é".utf8)), .blob([0, 0xFF]), .text(Array(repeating: 0x61, count: 300))] {
            let decoded = try PageCursor.decode(PageCursor(sortCell: cell, id: Array("id é".utf8)).encode())
            #expect(decoded == PageCursor(sortCell: cell, id: Array("id é".utf8)))
        }
        #expect(throws: StoreError.self) { try PageCursor.decode("AgM") }
    }

    @Test func aMemberThatJSONEscapesIsFoundByTheFilter() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("escape.db")
        let member = "say \"hi\" \\ back\u{1}"
        try store.create(RecordRef(collection: "minerals", id: "lithium"), [.set("name", .text("Lithium")), .add("uses", member)], author: "t")
        try store.create(RecordRef(collection: "minerals", id: "cobalt"), [.set("name", .text("Cobalt")), .add("uses", "say")], author: "t")
        let page = try store.page(RecordPageQuery(collection: "minerals", filters: [("uses", .text(member))]))
        #expect(page.records.map(\.ref.id) == ["lithium"])
        #expect(try store.list("minerals", where: [("uses", .text(member))]).map(\.ref.id) == ["lithium"])
    }

    /// `FIELD=` on a set (syncctl list --where uses=, the API's where=uses=)
    /// keeps the records with no members, as it keeps empty scalars.
    @Test func anEmptySetFilterKeepsRecordsWithNoMembers() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("empty.db")
        try store.create(RecordRef(collection: "minerals", id: "lithium"), [.set("name", .text("Lithium")), .add("uses", "batteries")], author: "t")
        try store.create(RecordRef(collection: "minerals", id: "cobalt"), [.set("name", .text("Cobalt"))], author: "t")
        try store.create(RecordRef(collection: "minerals", id: "nickel"), [.set("name", .text("Nickel")), .add("uses", "steel")], author: "t")
        try store.update(RecordRef(collection: "minerals", id: "nickel"), [.remove("uses", "steel")], author: "t")
        let page = try store.page(RecordPageQuery(collection: "minerals", filters: [("uses", .null)]))
        #expect(page.records.map(\.ref.id).filter { ["lithium", "cobalt", "nickel"].contains($0) } == ["cobalt", "nickel"])
        #expect(try store.list("minerals", where: [("uses", .null)]).map(\.ref.id).filter { ["lithium", "cobalt", "nickel"].contains($0) } == ["cobalt", "nickel"])
    }

    @Test func aForgedCursorIsRefusedNotTrusted() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("cursor.db")
        for bad in ["", "!!!", String(repeating: "A", count: 5_000), "WyJhIl0", "eyJhIjoxfQ"] {
            #expect(throws: StoreError.self) { try store.page(RecordPageQuery(collection: "agreements", after: bad)) }
        }
        #expect(throws: StoreError.self) { try store.page(RecordPageQuery(collection: "agreements", search: String(repeating: "x", count: 300))) }
        #expect(throws: SchemaError.self) { try store.page(RecordPageQuery(collection: "agreements", sort: "nope")) }
        #expect(throws: StoreError.self) { try store.page(RecordPageQuery(collection: "agreements", sort: "parties")) }
        // The limit is capped, whatever is asked.
        #expect(try store.page(RecordPageQuery(collection: "countries", limit: 1_000_000)).records.count <= RecordPageQuery.maxLimit)
    }

    @Test func recentChangesFilterByAuthorBytesAndStopAtTheSeq() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("changes.db")
        let ref = RecordRef(collection: "countries", id: "xx")
        try store.create(ref, [.set("name", .text("First"))], author: "Zoë")
        let seq = try store.highestSeq()
        try store.update(ref, [.set("name", .text("Second"))], author: "Zoe\u{308}")
        try store.update(ref, [.set("role", .text("Third"))], author: "Zoë")
        let since = try store.recentChanges(ChangeFilter(sinceSeq: seq)).changes
        #expect(since.allSatisfy { $0.seq > seq } && since.contains { $0.version.value == .text("Third") })
        #expect(!since.contains { $0.version.value == .text("First") })
        // NFC and NFD spellings of an author are two authors (bytes decide).
        let nfc = try store.recentChanges(ChangeFilter(author: "Zoë")).changes
        #expect(nfc.contains { $0.version.value == .text("First") } && !nfc.contains { $0.version.value == .text("Second") })
        let newestFirst = try store.recentChanges(ChangeFilter(limit: 1_000)).changes
        #expect(newestFirst.map(\.seq) == newestFirst.map(\.seq).sorted(by: >))
        // Paging back with before_seq reaches every seq, newest to oldest.
        var walked: [UInt64] = []
        var before: UInt64?
        while true {
            let page = try store.recentChanges(ChangeFilter(beforeSeq: before, limit: 1))
            walked += page.changes.map(\.seq)
            guard page.more, let last = page.changes.last else { break }
            before = last.seq
        }
        #expect(walked == newestFirst.map(\.seq), "every change once, newest first, none skipped at a page boundary")
    }
}

/// The tables the store writes agree with `viewDrift`'s own reading of the
/// slots, whatever path wrote them: local writes, merges of concurrent
/// versions (conflicts), deletes, set members added and removed.
@Suite struct ViewDriftTests {
    @Test func rowsWrittenByEveryPathShowNoDrift() throws {
        let dir = TemporaryDirectory()
        let ana = try dir.store("ana.db")
        let bo = try dir.store("bo.db")
        for n in 0..<200 {
            try ana.create(RecordRef(collection: "agreements", id: "a\(n)"), [.set("title", .text("Ana \(n)")), .add("parties", "countries/c\(n % 7)")], author: "ana")
            try bo.create(RecordRef(collection: "agreements", id: "a\(n)"), [.set("title", .text(n % 3 == 0 ? "Ana \(n)" : "Bo \(n)")), .add("parties", "countries/d\(n % 5)")], author: "bo")
        }
        for n in stride(from: 0, to: 200, by: 11) { try ana.delete(RecordRef(collection: "agreements", id: "a\(n)"), author: "ana") }
        try ana.apply(try bo.changes(since: 0, maxCount: 100_000, maxBytes: 1 << 30).changes, from: nil)
        try ana.update(RecordRef(collection: "agreements", id: "a1"), [.remove("parties", "countries/c1")], author: "ana")
        let (drift, count) = try ana.viewDrift()
        #expect(count == 0, "\(drift.prefix(5))")
        #expect(try ana.conflicts().count > 0)
        #expect(try ana.repairViews().rows == 0)
    }
}
