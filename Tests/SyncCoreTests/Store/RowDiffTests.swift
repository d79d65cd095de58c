import PropertyBased
import Testing
@testable import SyncCore

/// The events of a watched query, checked by search: applying them to the
/// previous rows gives the new rows (as a multiset, or by id when the query
/// has a unique id column).
@Suite("Row differences of watched queries")
struct RowDiffTests {
    static func rows(_ picks: [[Int]], keyed: Bool) -> QueryRows {
        let cells: [SQLCell] = [.null, .integer(1), .text(Array("Café".utf8)), .text(Array("Cafe\u{301}".utf8)), .real(2.5), .blob([0, 255])]
        var seen = Set<Int>()
        let rows = picks.compactMap { pick -> [SQLCell]? in
            let id = pick.first ?? 0
            if keyed { guard seen.insert(id % 9).inserted else { return nil } }
            return [.text(Array("r\(id % 9)".utf8))] + pick.dropFirst().prefix(2).map { cells[$0 % cells.count] }
        }.map { $0 + Array(repeating: SQLCell.null, count: 3 - $0.count) }
        return QueryRows(columns: keyed ? ["id", "a", "b"] : ["x", "a", "b"], rows: rows)
    }

    static func apply(_ events: [RowEvent], to old: [[SQLCell]]) -> [[SQLCell]] {
        var rows = old
        for event in events {
            switch event {
            case .added(let row): rows.append(row)
            case .removed(let row): if let index = rows.firstIndex(of: row) { rows.remove(at: index) }
            case .changed(let before, let after): if let index = rows.firstIndex(of: before) { rows[index] = after }
            }
        }
        return rows
    }

    static func multiset(_ rows: [[SQLCell]]) -> [[SQLCell]: Int] { rows.reduce(into: [:]) { $0[$1, default: 0] += 1 } }

    @Test func eventsTakeTheOldRowsToTheNew() async {
        await propertyCheck(count: 400, input: Gen.int(in: 0...50).array(of: 1...3).array(of: 0...8), Gen.int(in: 0...50).array(of: 1...3).array(of: 0...8), Gen.bool) { old, new, keyed in
            let before = Self.rows(old, keyed: keyed), after = Self.rows(new, keyed: keyed)
            let events = RowDiff.diff(before, after)
            #expect(Self.multiset(Self.apply(events, to: before.rows)) == Self.multiset(after.rows))
            if before.rows == after.rows { #expect(events.isEmpty) }
            if keyed {
                // Matched by id: never a removal and an addition of the same id.
                let removed = Set(events.compactMap { if case .removed(let row) = $0 { row[0] } else { nil } })
                let added = Set(events.compactMap { if case .added(let row) = $0 { row[0] } else { nil } })
                #expect(removed.isDisjoint(with: added))
            }
        }
    }

    @Test func textThatLooksEqualIsAChange() {
        let nfc = QueryRows(columns: ["id", "name"], rows: [[.text(Array("de".utf8)), .text(Array("Café".utf8))]])
        let nfd = QueryRows(columns: ["id", "name"], rows: [[.text(Array("de".utf8)), .text(Array("Cafe\u{301}".utf8))]])
        #expect(RowDiff.diff(nfc, nfd) == [.changed(before: nfc.rows[0], after: nfd.rows[0])])
    }
}
