import Foundation
import GRDB
import SyncCore

/// An analyst's own column on a collection table (docs/sql.md: `ALTER TABLE
/// countries ADD COLUMN score`, then `UPDATE … SET score`) and their own
/// table (`analyst_notes`): no replicated data, but theirs, and never to be
/// lost without a copy — whatever syncd does (schema changes from anyone,
/// joins, restores, a crash) the cell is in the table, in a
/// `countries_kept_columns…` table, or in a database kept aside
/// (`data.db.before-restore-…` until its fold,
/// `data.db.own-data-before-restore-…` after), unless its record's row went
/// with a delete; a row of their table, in the database or in such a copy.
/// Drawn from a generator of its own, so that the runs' other draws stay
/// those of their seeds.
extension World {
    static let analystColumn = "score"

    /// Now and then, before a chaos step: an analyst writes, on one
    /// replica's file, a cell of their own column on its countries table
    /// (adding the column if it is not there) or a row of a table of their own.
    func maybeAnalystCell() {
        guard analystRng.chance(0.04) else { return }
        let replica = replicas[analystRng.int(0...(replicas.count - 1))]
        if analystRng.chance(0.1) { return analystUniqueIndex(replica) }
        let id = "c\(analystRng.int(0...29))"
        let ownTable = analystRng.chance(0.3)
        analystValue += 1
        let value = 1_000 + analystValue
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            let queue = try DatabaseQueue(path: replica.path, configuration: configuration)
            defer { try? queue.close() }
            // The value the update replaces, when there was one: the analyst
            // overwrote it on purpose, so it is watched no more.
            var replaced: Int64?
            let changed = try queue.write { db -> Bool in
                if ownTable {
                    try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(Self.analystTable)(note INTEGER)")
                    try db.execute(sql: "INSERT INTO \(Self.analystTable)(note) VALUES (?)", arguments: [value])
                    return true
                }
                guard try db.tableExists("countries") else { return false }
                let columns = try db.columns(in: "countries").map(\.name)
                if !columns.contains(Self.analystColumn) {
                    try db.execute(sql: "ALTER TABLE countries ADD COLUMN \(Self.analystColumn) INTEGER")
                }
                replaced = try Int64.fetchOne(db, sql: "SELECT \(Self.analystColumn) FROM countries WHERE id = ?", arguments: [id])
                try db.execute(sql: "UPDATE countries SET \(Self.analystColumn) = ? WHERE id = ?", arguments: [value, id])
                return db.changesCount > 0
            }
            guard changed else { return }
            if let replaced { analystCells[replica.index]?.remove(AnalystCell(id: id, value: replaced)) }
            if ownTable {
                analystRows[replica.index, default: []].insert(value)
                count("sql: analyst's own table")
                note("\(replica.name) analyst: row \(value) of \(Self.analystTable)")
            } else {
                analystCells[replica.index, default: []].insert(AnalystCell(id: id, value: value))
                count("sql: analyst's column")
                note("\(replica.name) analyst: countries.\(Self.analystColumn) = \(value) for \(id)")
            }
        } catch {
            violation("\(replica.name): an analyst could not write their column or table: \(error)")
        }
    }

    static let analystTable = "analyst_notes"

    /// After every event: each cell and row written is where it must be.
    func checkAnalystCells() {
        for index in Set(analystCells.keys).union(analystRows.keys).sorted() {
            let replica = replicas[index]
            guard let store = replica.store else { continue }
            for cell in (analystCells[index] ?? []).sorted(by: { ($0.id, $0.value) < ($1.id, $1.value) }) {
                switch locate(replica: replica, store: store, { try Self.find(cell.id, cell.value, in: $0) }) {
                case .here, .inFileAside: break  // asked again: a restore or its fold may still lose it
                case .gone, .keptForGood: analystCells[index]?.remove(cell)
                case .lost:
                    violation("\(replica.name): the analyst's cell countries.\(Self.analystColumn) = \(cell.value) of \(cell.id) is lost: neither the table, a kept-columns table nor a database kept aside holds it")
                    analystCells[index]?.remove(cell)
                }
            }
            for value in (analystRows[index] ?? []).sorted() {
                switch locate(replica: replica, store: store, { try Self.findRow(value, in: $0) }) {
                case .here, .inFileAside: break
                case .gone, .keptForGood: analystRows[index]?.remove(value)
                case .lost:
                    violation("\(replica.name): row \(value) of the analyst's own table \(Self.analystTable) is lost: neither the database nor one kept aside holds it")
                    analystRows[index]?.remove(value)
                }
            }
        }
    }

    /// Where a cell or row is: live (in its place or a kept-columns table),
    /// kept for good (a file kept for the analyst), in a copy kept
    /// aside that a fold has yet to settle, gone with its row (a delete),
    /// or nowhere.
    enum CellPlace { case here, gone, keptForGood, inFileAside, lost }

    /// A cell the analyst wrote: their value for a record.
    struct AnalystCell: Hashable { let id: String; let value: Int64 }

    /// What one database holds of a cell or row.
    enum Found { case here, keptTable, rowGone, absent }

    func locate(replica: SimReplica, store: Store, _ find: (Database) throws -> Found) -> CellPlace {
        let live: Found
        do { live = try store.read(find) } catch {
            violation("\(replica.name): cannot read the analyst's data: \(error)")
            return .gone
        }
        switch live {
        // A live kept-columns table is the analyst's too: a restore takes
        // it into the copy it keeps aside, so it is watched as the cell is.
        case .here, .keptTable: return .here
        case .rowGone, .absent: break
        }
        // Not live: a copy kept aside by a restore (before its fold) or kept
        // for the analyst after it. A row gone with a delete counts only when
        // no copy holds the cell (a restore to a snapshot without the record
        // removes the row too, until the fold brings the record back).
        let kept = ((try? FileManager.default.contentsOfDirectory(atPath: replica.directory.path)) ?? []).filter {
            $0.hasPrefix(Snapshots.analystDataAsidePrefix) && !["-wal", "-shm", "-journal"].contains(where: $0.hasSuffix)
        }
        var unread = false
        for name in Snapshots.keptAside(in: replica.directory) + kept.sorted() {
            var configuration = Configuration()
            configuration.readonly = true
            do {
                let queue = try DatabaseQueue(path: replica.directory.appendingPathComponent(name).path, configuration: configuration)
                defer { try? queue.close() }
                switch try queue.read(find) {
                case .here, .keptTable: return name.hasPrefix(Snapshots.analystDataAsidePrefix) ? .keptForGood : .inFileAside
                case .rowGone, .absent: continue
                }
            } catch {
                unread = true
            }
        }
        // A file that cannot be read now (a hot journal) may hold it: asked again later.
        if unread { return .inFileAside }
        return live == .rowGone ? .gone : .lost
    }

    /// Cell `value` of record `id` in one database.
    static func find(_ id: String, _ value: Int64, in db: Database) throws -> Found {
        guard try db.tableExists("countries"),
              try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM countries WHERE id = ?)", arguments: [id]) == true else { return .rowGone }
        let hasColumn = try db.columns(in: "countries").contains { $0.name == analystColumn }
        if try hasColumn && Bool.fetchOne(db, sql: "SELECT \(analystColumn) = ? FROM countries WHERE id = ?", arguments: [value, id]) == true { return .here }
        for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'countries\\_kept\\_columns%' ESCAPE '\\'") {
            let columns = try db.columns(in: table).map(\.name)
            guard columns.contains("id"), columns.contains(analystColumn) else { continue }
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(table.quotedDatabaseIdentifier) WHERE id = ? AND \(analystColumn) = ?)",
                                 arguments: [id, value]) == true {
                return .keptTable
            }
        }
        // The analyst's own DELETE of the row, still queued (a take-up a full
        // disk stopped part way: an earlier edit of the record put the row
        // back from the record): the cell goes with that delete.
        if try db.tableExists("sync_sql_edits_countries"),
           try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sync_sql_edits_countries WHERE op = 'delete' AND \"old id\" = ? AND reason IS NULL)",
                             arguments: [id]) == true {
            return .rowGone
        }
        return .absent
    }

    /// Row `value` of the analyst's own table in one database.
    static func findRow(_ value: Int64, in db: Database) throws -> Found {
        guard try db.tableExists(analystTable) else { return .absent }
        return try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(analystTable) WHERE note = ?)", arguments: [value]) == true ? .here : .absent
    }
}
