import Foundation
import GRDB
import SyncCore

/// An analyst's own column on a collection table (docs/sql.md: `ALTER TABLE
/// countries ADD COLUMN score`, then `UPDATE … SET score`): no replicated
/// data, but theirs, and never to be lost without a copy — whatever syncd
/// does to the table (schema changes from anyone, joins, restores, a crash)
/// the cell is in the table, in a `countries_kept_columns…` table, or in a
/// database kept aside (`data.db.before-restore-…` until its fold,
/// `data.db.own-data-before-restore-…` after), unless its record's row went
/// (a delete). Drawn from a generator of its own, so that the runs' other
/// draws stay those of their seeds.
extension World {
    static let analystColumn = "score"

    /// Now and then, before a chaos step: an analyst writes a cell of their
    /// own column on one replica's table (adding the column if it is not there).
    func maybeAnalystCell() {
        guard analystRng.chance(0.04) else { return }
        let replica = replicas[analystRng.int(0...(replicas.count - 1))]
        let id = "c\(analystRng.int(0...29))"
        analystValue += 1
        let value = 1_000 + analystValue
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            let queue = try DatabaseQueue(path: replica.path, configuration: configuration)
            defer { try? queue.close() }
            let changed = try queue.write { db -> Bool in
                guard try db.tableExists("countries") else { return false }
                let columns = try db.columns(in: "countries").map(\.name)
                if !columns.contains(Self.analystColumn) {
                    try db.execute(sql: "ALTER TABLE countries ADD COLUMN \(Self.analystColumn) INTEGER")
                }
                try db.execute(sql: "UPDATE countries SET \(Self.analystColumn) = ? WHERE id = ?", arguments: [value, id])
                return db.changesCount > 0
            }
            guard changed else { return }
            analystCells[replica.index, default: [:]][id] = value
            count("sql: analyst's column")
            note("\(replica.name) analyst: countries.\(Self.analystColumn) = \(value) for \(id)")
        } catch {
            violation("\(replica.name): an analyst could not add or write their column: \(error)")
        }
    }

    /// After every event: each cell written is where it must be.
    func checkAnalystCells() {
        for (index, cells) in analystCells where !cells.isEmpty {
            let replica = replicas[index]
            guard let store = replica.store else { continue }
            for (id, value) in cells {
                switch locate(id, value, replica: replica, store: store) {
                case .inTable: break
                case .rowGone, .keptForGood: analystCells[index]?[id] = nil
                case .inFileAside: break  // checked again until the fold settles it
                case .lost:
                    violation("\(replica.name): the analyst's cell countries.\(Self.analystColumn) = \(value) of \(id) is lost: neither the table, a kept-columns table nor a database kept aside holds it")
                    analystCells[index]?[id] = nil
                }
            }
        }
    }

    enum CellPlace { case inTable, rowGone, keptForGood, inFileAside, lost }

    func locate(_ id: String, _ value: Int64, replica: SimReplica, store: Store) -> CellPlace {
        do {
            let live: CellPlace? = try store.read { db in
                guard let found = try Self.find(id, value, in: db) else { return .rowGone }
                return found.inTable ? .inTable : found.inKeptTable ? .keptForGood : nil
            }
            if let live { return live }
        } catch {
            violation("\(replica.name): cannot read the analyst's column: \(error)")
            return .rowGone
        }
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
                let found = try queue.read { try Self.find(id, value, in: $0) }
                if let found, found.inTable || found.inKeptTable {
                    return name.hasPrefix(Snapshots.analystDataAsidePrefix) ? .keptForGood : .inFileAside
                }
            } catch {
                unread = true
            }
        }
        // A file that cannot be read now (a hot journal) may hold it: asked again later.
        return unread ? .inFileAside : .lost
    }

    /// Whether the row of `id` is in `countries` (nil when not), and whether
    /// `value` is its cell there or in a kept-columns table.
    static func find(_ id: String, _ value: Int64, in db: Database) throws -> (inTable: Bool, inKeptTable: Bool)? {
        guard try db.tableExists("countries") else { return nil }
        guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM countries WHERE id = ?)", arguments: [id]) == true else { return nil }
        let hasColumn = try db.columns(in: "countries").contains { $0.name == analystColumn }
        let inTable = try hasColumn && Bool.fetchOne(db, sql: "SELECT \(analystColumn) = ? FROM countries WHERE id = ?", arguments: [value, id]) == true
        if inTable { return (true, false) }
        for table in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'countries\\_kept\\_columns%' ESCAPE '\\'") {
            let columns = try db.columns(in: table).map(\.name)
            guard columns.contains("id"), columns.contains(analystColumn) else { continue }
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(table.quotedDatabaseIdentifier) WHERE id = ? AND \(analystColumn) = ?)",
                                 arguments: [id, value]) == true {
                return (false, true)
            }
        }
        return (false, false)
    }
}
