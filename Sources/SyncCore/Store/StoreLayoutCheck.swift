import GRDB

/// How a database's layout differs from the one this build makes (for
/// `syncctl check`), in parts by what they cost the live database.
public struct StoreLayoutProblems: Sendable, Equatable {
    /// Store tables declared otherwise, or their indexes not this build's,
    /// as snapshot verification judges them (`Snapshots.storeTableProblems`):
    /// a `sync_buckets` without its primary key keeps two rows for a bucket,
    /// and the digest a write keeps is not the one a read finds. A repair
    /// would write where reads do not look; nothing mends it in place.
    public let storeTables: [String]
    /// UNIQUE indexes syncd does not make on a collection table (syncd makes
    /// none): its writes of the table (`INSERT OR REPLACE`) would remove
    /// another record's row by one, or fail on it; a repair of the table
    /// would never settle. Dropping the index mends it.
    public let uniqueIndexes: [String]
    /// Triggers syncd does not make: syncd's own writes run with triggers
    /// off and do not fire one, but other programs' writes do.
    public let triggers: [String]
    /// SQL-edit queues not laid out as queues (changed by another program).
    public let queues: [String]

    /// What fails every snapshot's verification without ruling a repair
    /// out: the triggers and the queues.
    public var snapshotBlockers: [String] { triggers + queues }
    /// Whether a repair is ruled out (it would write where reads do not look, or never settle).
    public var rulesOutRepair: Bool { !storeTables.isEmpty || !uniqueIndexes.isEmpty }
    public var isEmpty: Bool { !rulesOutRepair && snapshotBlockers.isEmpty }
}

extension Store {
    /// The layout problems of this database; empty when sound. One read
    /// transaction.
    public func layoutProblems() throws -> StoreLayoutProblems {
        let tables = schema.tableCollections.map(\.name)
        return try pool.read { db in
            StoreLayoutProblems(storeTables: try Snapshots.storeTableProblems(db),
                                uniqueIndexes: try Self.uniqueIndexProblems(db, tables: tables),
                                triggers: try Snapshots.triggerProblems(db), queues: try RestoredSQLEdits.layoutProblems(db))
        }
    }

    /// UNIQUE indexes on the collection tables `tables` but the primary
    /// key's: made with CREATE INDEX (`origin` 'c') or by a UNIQUE
    /// constraint of a table made again (`u`). One that takes in `id` (the
    /// primary key) can never hold two records' rows, and is left out.
    static func uniqueIndexProblems(_ db: Database, tables: [String]) throws -> [String] {
        var problems: [String] = []
        for table in tables {
            let rows = try Row.fetchAll(db, sql: "SELECT name, \"unique\", origin FROM pragma_index_list(?)", arguments: [table])
            for row in rows where (row[1] as Int64?) == 1 && ["c", "u"].contains((row[2] as String?) ?? "") {
                let name = (row[0] as String?) ?? "?"
                let columns = try String?.fetchAll(db, sql: "SELECT name FROM pragma_index_info(?)", arguments: [name])
                if columns.contains(where: { $0?.utf8.elementsEqual("id".utf8) == true }) { continue }
                problems.append(((row[2] as String?) == "u"
                    ? "a UNIQUE constraint syncd does not make on its table \(table) (\(name)): syncd's writes of the table would remove another record's row by it, or fail; keep a copy of the file, then make the table again without it (or restore the last good snapshot)"
                    : "a UNIQUE index syncd does not make on its table \(table): \(name) (syncd's writes of the table would remove another record's row by it, or fail); drop it (`DROP INDEX \(name.quotedDatabaseIdentifier)`)"))
            }
        }
        return problems
    }
}
