/// The rows of one run of a watched query (`QueryWatch`): column names and
/// cells, in the order the query returned them.
public struct QueryRows: Hashable, Sendable {
    public let columns: [String]
    public let rows: [[SQLCell]]

    public init(columns: [String], rows: [[SQLCell]]) {
        self.columns = columns
        self.rows = rows
    }
}

/// One difference between two runs of a watched query.
public enum RowEvent: Hashable, Sendable {
    case added([SQLCell])
    case changed(before: [SQLCell], after: [SQLCell])
    case removed([SQLCell])
}

/// What changed between two runs of a watched query: pure, so the property
/// tests check it (applying the events to the old rows gives the new ones).
///
/// Rows are matched by their `id` column when the query has exactly one and
/// its values are unique in both runs: a row whose other cells differ is
/// `changed`. Otherwise a row is its cells, and a change shows as a removal
/// and an addition. Cells compare by class and bytes, never as Swift strings.
public enum RowDiff {
    /// The position of the key column, when rows can be matched by it.
    static func keyColumn(_ old: QueryRows, _ new: QueryRows) -> Int? {
        let ids = new.columns.indices.filter { new.columns[$0].lowercased() == "id" }
        guard ids.count == 1, old.columns == new.columns else { return nil }
        let column = ids[0]
        for rows in [old.rows, new.rows] where Set(rows.map { $0[column] }).count != rows.count { return nil }
        return column
    }

    public static func diff(_ old: QueryRows, _ new: QueryRows) -> [RowEvent] {
        if let key = keyColumn(old, new) {
            let before = Dictionary(uniqueKeysWithValues: old.rows.map { ($0[key], $0) })
            let now = Set(new.rows.map { $0[key] })
            var events: [RowEvent] = old.rows.filter { !now.contains($0[key]) }.map { .removed($0) }
            for row in new.rows {
                if let previous = before[row[key]] {
                    if previous != row { events.append(.changed(before: previous, after: row)) }
                } else {
                    events.append(.added(row))
                }
            }
            return events
        }
        // Whole rows as multisets: as many removals and additions as the counts differ.
        var counts: [[SQLCell]: Int] = [:]
        for row in old.rows { counts[row, default: 0] += 1 }
        var events: [RowEvent] = []
        var additions: [RowEvent] = []
        for row in new.rows {
            if let count = counts[row], count > 0 { counts[row] = count - 1 } else { additions.append(.added(row)) }
        }
        var remaining = counts
        for row in old.rows {
            if let count = remaining[row], count > 0 {
                events.append(.removed(row))
                remaining[row] = count - 1
            }
        }
        return events + additions
    }
}
