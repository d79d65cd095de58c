import GRDB

/// The SQL-edit queues of a restore (replication-model §7, §8.1): those the
/// snapshot brings are declared again as this build declares them, and
/// those of the database being replaced are carried into the restored one.
///
/// A snapshot is a file from anywhere. Verification reads its store tables
/// (`Snapshots.layoutProblems`) but keeps a queue table's declaration only
/// as far as its column names: a constraint of its own (`UNIQUE … ON
/// CONFLICT REPLACE`), an index of its own, or a counter below its highest
/// edit would let an analyst's next SQL write replace or drop an edit still
/// waiting, unseen. So each queue table is made afresh and its rows copied
/// in edit order, and the counter is made again past every edit.
///
/// Edits that wait (or were refused) in the database a restore replaces are
/// no slot: merging the copy kept aside brings back its slots, not its
/// queue. They are carried into the restored database, numbered after its
/// own edits in the order they had, to be taken up there (a column the
/// restored schema lacks is handled as after any schema change:
/// `SQLEditQueue.prepare` refuses the edits that wrote one, naming what
/// they wrote).
enum RestoredSQLEdits {
    /// Whether `name` (as `sqlite_master` spells it) names a queue table.
    static func isQueueTable(_ name: String) -> Bool {
        name.lowercased().hasPrefix(queuePrefix)
    }

    static let queuePrefix = "sync_sql_edits_"

    /// The queue tables of `schema` (`main` or an attached database), as named there.
    static func queueTables(in db: Database, schema: String = "main") throws -> [String] {
        try String.fetchAll(db, sql: "SELECT name FROM \(schema.quotedDatabaseIdentifier).sqlite_master WHERE type = 'table' ORDER BY name")
            .filter(isQueueTable)
    }

    /// What verification refuses in a queue table of a snapshot: one that
    /// lacks a column every queue has, or has a column that is not a row's
    /// cell before or after (`old …`, `new …`). Nothing else about its
    /// declaration is kept (`redeclare`).
    static func layoutProblems(_ db: Database) throws -> [String] {
        var problems: [String] = []
        for table in try queueTables(in: db) {
            let columns = try db.columns(in: table, in: "main").map(\.name)
            let missing = SQLEditQueue.fixedColumns.filter { fixed in !columns.contains { $0.utf8.elementsEqual(fixed.utf8) } }
            let strange = columns.filter { column in
                !SQLEditQueue.fixedColumns.contains { $0.utf8.elementsEqual(column.utf8) } && !column.hasPrefix("old ") && !column.hasPrefix("new ")
            }
            if !missing.isEmpty || !strange.isEmpty {
                problems.append("its SQL-edit queue \(table) is not laid out as a queue (missing: \(missing.joined(separator: ", ")); other columns: \(strange.joined(separator: ", ")))")
            }
        }
        if try db.tableExists(SQLEditQueue.counterTable, in: "main"),
           !(try db.columns(in: SQLEditQueue.counterTable, in: "main").contains { $0.name == "n" }) {
            problems.append("its table \(SQLEditQueue.counterTable) has no column n")
        }
        return problems
    }

    /// Declares every queue table of the file again as this build declares
    /// it (under its name in lower case, as a collection's is), with only its pending index, its rows
    /// copied in edit order, and the counter made again at the highest edit
    /// number in use or the count it held, whichever is higher. Runs with
    /// triggers off, in the caller's transaction; the columns are those
    /// `layoutProblems` let through. An edit number that is not an integer,
    /// or one used twice, fails (SQLite's error), and the restore with it.
    static func redeclare(in db: Database) throws {
        var highest: Int64 = 0
        if try db.tableExists(SQLEditQueue.counterTable, in: "main") {
            highest = try Int64.fetchOne(db, sql: "SELECT max(n) FROM \(SQLEditQueue.counterTable) WHERE typeof(n) = 'integer'") ?? 0
            try db.execute(sql: "DROP TABLE \(SQLEditQueue.counterTable)")
        }
        for table in try queueTables(in: db) {
            let columns = try db.columns(in: table, in: "main").map(\.name)
            let cells = columns.filter { column in !SQLEditQueue.fixedColumns.contains { $0.utf8.elementsEqual(column.utf8) } }
            let name = table.lowercased()
            try SQLEditQueue.rewrite(table, as: name, cellColumns: cells, copying: columns, in: db)
            try db.execute(sql: SQLEditQueue.pendingIndex(name))
            highest = max(highest, try Int64.fetchOne(db, sql: "SELECT max(edit) FROM \(name.quotedDatabaseIdentifier)") ?? 0)
        }
        try db.execute(sql: "CREATE TABLE \(SQLEditQueue.counterTable)(n INTEGER NOT NULL)")
        try db.execute(sql: "INSERT INTO \(SQLEditQueue.counterTable)(n) VALUES (?)", arguments: [highest])
    }

    /// Copies every queue row of `main` (the database a restore replaces)
    /// into the attached database `target` (the restored one, `redeclare`d),
    /// numbered after the edits it holds in the order they had, and moves
    /// its counter past them; returns the rows copied. A queue table the
    /// target lacks is made there; a column it lacks is added (the target's
    /// first store open refuses the edits that wrote one, `prepare`).
    static func carry(into target: String, in db: Database) throws -> Int {
        let counter = "\(target.quotedDatabaseIdentifier).\(SQLEditQueue.counterTable)"
        let offset = try Int64.fetchOne(db, sql: "SELECT n FROM \(counter)") ?? 0
        var carried = 0
        var highest: Int64 = 0
        for table in try queueTables(in: db) {
            let columns = try db.columns(in: table, in: "main").map(\.name)
            guard columns.contains("edit") else { continue }
            let name = table.lowercased()
            let qualified = "\(target.quotedDatabaseIdentifier).\(name.quotedDatabaseIdentifier)"
            let cells = columns.filter { column in !SQLEditQueue.fixedColumns.contains { $0.utf8.elementsEqual(column.utf8) } }
            if try db.tableExists(name, in: target) {
                let there = try db.columns(in: name, in: target).map(\.name)
                for cell in cells where !there.contains(where: { $0.utf8.elementsEqual(cell.utf8) }) {
                    try db.execute(sql: "ALTER TABLE \(qualified) ADD COLUMN \(cell.quotedDatabaseIdentifier)")
                }
            } else {
                try db.execute(sql: SQLEditQueue.declaration(qualified, cellColumns: cells))
                try db.execute(sql: SQLEditQueue.pendingIndex(name, schema: target))
            }
            let others = columns.filter { $0 != "edit" }.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
            try db.execute(sql: "INSERT INTO \(qualified)(edit, \(others)) SELECT edit + ?, \(others) FROM main.\(table.quotedDatabaseIdentifier) ORDER BY edit",
                           arguments: [offset])
            carried += db.changesCount
            highest = max(highest, try Int64.fetchOne(db, sql: "SELECT max(edit) FROM main.\(table.quotedDatabaseIdentifier)") ?? 0)
        }
        if carried > 0 { try db.execute(sql: "UPDATE \(counter) SET n = ?", arguments: [offset + highest]) }
        return carried
    }
}
