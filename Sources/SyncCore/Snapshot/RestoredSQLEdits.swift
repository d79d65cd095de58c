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
    /// What verification refuses in a queue table of a snapshot: one that
    /// lacks a column every queue has, or has a column that is not a row's
    /// cell before or after (`old …`, `new …`). Nothing else about its
    /// declaration is kept (`redeclare`).
    static func layoutProblems(_ db: Database) throws -> [String] {
        var problems: [String] = []
        for table in try SQLEditQueue.queueTables(in: db) {
            let columns = try db.columns(in: table, in: "main").map(\.name)
            let missing = SQLEditQueue.fixedColumns.filter { fixed in !columns.contains { $0.utf8.elementsEqual(fixed.utf8) } }
            let strange = SQLEditQueue.cells(among: columns).filter { column in
                !column.hasPrefix("old ") && !column.hasPrefix("new ") || column.utf8.contains { (65...90).contains($0) }
            }
            if !missing.isEmpty || !strange.isEmpty {
                problems.append("its SQL-edit queue \(table) is not laid out as a queue (missing: \(missing.joined(separator: ", ")); other columns: \(strange.joined(separator: ", ")))")
            }
        }
        if try db.holdsTable(SQLEditQueue.counterTable, in: "main"),
           !(try db.columns(in: SQLEditQueue.counterTable, in: "main").contains { $0.name == "n" }) {
            problems.append("its table \(SQLEditQueue.counterTable) has no column n")
        }
        return problems
    }

    /// Declares every queue table of the file again as this build declares
    /// it (under its name in lower case, as a collection's is), with only
    /// its pending index, and the counter made again. Runs with triggers
    /// off, in the caller's transaction; the columns are those
    /// `layoutProblems` let through.
    ///
    /// - The rows are numbered again 1, 2, 3… in their edit order across
    ///   all queues (a file's numbers may be anything, up to 2^63 − 1, and
    ///   the carried edits are numbered after them), and the counter is
    ///   their count. A row that shares its number with another fails
    ///   (SQLite's error), and the restore with it.
    /// - An edit still waiting in the snapshot may have been taken up (or
    ///   discarded) on its replica after the snapshot was taken: taken up
    ///   again here it would be written a second time, as this analyst's
    ///   new edit. It is kept refused instead, with `reason`, for
    ///   `syncctl sql retry` or `discard` to settle.
    static func redeclare(in db: Database, reason: String, at wall: Int64) throws {
        if try db.holdsTable(SQLEditQueue.counterTable, in: "main") {
            try db.execute(sql: "DROP TABLE \(SQLEditQueue.counterTable)")
        }
        let tables = try SQLEditQueue.queueTables(in: db)
        let count = try rank(tables, from: 0, in: db)
        for table in tables {
            let columns = try db.columns(in: table, in: "main").map(\.name)
            let cells = SQLEditQueue.cells(among: columns)
            let name = SQLiteName.folded(table)
            try SQLEditQueue.rewrite(table, as: name, cellColumns: cells, copying: columns, number: rankOf(table, "queued"), in: db)
            try db.execute(sql: SQLEditQueue.pendingIndex(name))
            try db.execute(sql: """
                UPDATE \(name.quotedDatabaseIdentifier) SET reason = \(SQLEditQueue.literal(reason + " `syncctl sql retry ")) || edit || '` writes it, `syncctl sql discard ' || edit || '` drops it', refused_at = ?
                WHERE reason IS NULL
                """, arguments: [wall])
        }
        try db.execute(sql: "DROP TABLE \(ranks)")
        try db.execute(sql: "CREATE TABLE \(SQLEditQueue.counterTable)(n INTEGER NOT NULL)")
        try db.execute(sql: "INSERT INTO \(SQLEditQueue.counterTable)(n) VALUES (?)", arguments: [count])
    }

    /// The temporary table of `rank`.
    static let ranks = "temp.\("sync_sql_ranks".quotedDatabaseIdentifier)"

    /// Ranks the rows of the queue tables `tables` of `main` by their edit
    /// numbers across all of them (ties by table name), into `ranks`, the
    /// first after `start`; returns how many. Indexed on (table, number):
    /// `rankOf` finds a row's rank in one probe.
    static func rank(_ tables: [String], from start: Int64, in db: Database) throws -> Int64 {
        try db.execute(sql: "DROP TABLE IF EXISTS \(ranks)")
        // One statement: the numbers as the window gives them (a join back
        // to the rows would probe an unindexed subquery per row).
        let rows = tables.isEmpty ? "SELECT NULL AS tbl, NULL AS edit WHERE 0"
            : tables.map { "SELECT \(SQLEditQueue.literal($0)) AS tbl, edit FROM main.\($0.quotedDatabaseIdentifier)" }.joined(separator: " UNION ALL ")
        try db.execute(sql: "CREATE TABLE \(ranks) AS SELECT tbl, edit, ? + row_number() OVER (ORDER BY edit, tbl) AS n FROM (\(rows))", arguments: [start])
        try db.execute(sql: "CREATE INDEX temp.sync_sql_ranks_by_edit ON \("sync_sql_ranks".quotedDatabaseIdentifier)(tbl, edit)")
        return try Int64.fetchOne(db, sql: "SELECT count(*) FROM \(ranks)") ?? 0
    }

    /// The rank (`rank`) of the row `alias` of queue table `table`, as SQL.
    /// `+` takes the affinity off the row's number, so that the index is
    /// used (a number compared under the column's INTEGER affinity is not
    /// looked up in an index of a column without one: a scan per row).
    static func rankOf(_ table: String, _ alias: String) -> String {
        "(SELECT n FROM \(ranks) AS ranks WHERE ranks.tbl = \(SQLEditQueue.literal(table)) AND ranks.edit IS +\(alias).edit LIMIT 1)"
    }

    /// Why an edit that came waiting in a snapshot is kept refused.
    static func snapshotReason(_ name: String) -> String {
        "it came with snapshot \(name), still waiting to be taken up when the snapshot was taken; it may have been taken up or discarded since, and is not written again unless you say so:"
    }

    /// Copies every queue row of `main` (the database a restore replaces)
    /// into the attached database `target` (the restored one, `redeclare`d),
    /// numbered after the edits it holds in the order they had, and moves
    /// its counter past them; returns the rows copied. A row of the target
    /// that is the same edit (the snapshot was taken of this database while
    /// it waited: same operation, time and cells) goes first: the live row
    /// says how it stands now. A queue table the target lacks is made there;
    /// a column it lacks is added (the target's first store open refuses the
    /// edits that wrote one, `prepare`). A queue a client made without
    /// `edit` is numbered after the others, in its row order.
    static func carry(into target: String, in db: Database) throws -> Int {
        let counter = "\(target.quotedDatabaseIdentifier).\(SQLEditQueue.counterTable)"
        var next = try Int64.fetchOne(db, sql: "SELECT n FROM \(counter)") ?? 0
        let tables = try SQLEditQueue.queueTables(in: db).map { table in (table, try db.columns(in: table, in: "main").map(\.name)) }
        // Numbered after the target's, 1, 2, 3… in edit order across the
        // queues (whatever numbers a client left), then those without.
        let numbered = tables.filter { $0.1.contains("edit") }
        let ranked = try rank(numbered.map(\.0), from: next, in: db)
        var carried = 0
        for (table, columns) in tables {
            let name = SQLiteName.folded(table)
            let source = "main.\(table.quotedDatabaseIdentifier)"
            let qualified = "\(target.quotedDatabaseIdentifier).\(name.quotedDatabaseIdentifier)"
            let cells = SQLEditQueue.cells(among: columns)
            if try db.holdsTable(name, in: target) {
                // Names as SQLite compares them (ASCII case folded).
                let there = Set(try db.columns(in: name, in: target).map { SQLiteName.key($0.name) })
                try dropSameEdits(of: source, columns: (["op", "at"] + cells).filter { there.contains(SQLiteName.key($0)) }, from: qualified, in: db)
                for cell in cells where !there.contains(SQLiteName.key(cell)) {
                    try db.execute(sql: "ALTER TABLE \(qualified) ADD COLUMN \(cell.quotedDatabaseIdentifier)")
                }
            } else {
                try db.execute(sql: SQLEditQueue.declaration(qualified, cellColumns: cells))
                try db.execute(sql: SQLEditQueue.pendingIndex(name, schema: target))
            }
            let others = columns.filter { $0 != "edit" }.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
            if columns.contains("edit") {
                try db.execute(sql: "INSERT INTO \(qualified)(edit, \(others)) SELECT \(rankOf(table, "queued")), \(others) FROM \(source) AS queued")
                carried += db.changesCount
            } else {
                try db.execute(sql: "INSERT INTO \(qualified)(edit, \(others)) SELECT ? + row_number() OVER (ORDER BY rowid), \(others) FROM \(source)",
                               arguments: [next + ranked])
                carried += db.changesCount
                next += Int64(db.changesCount)
            }
        }
        try db.execute(sql: "DROP TABLE \(ranks)")
        try db.execute(sql: "UPDATE \(counter) SET n = ?", arguments: [next + ranked])
        return carried
    }

    /// Removes from the target's queue `target` the rows that are an edit
    /// of the live queue `source` (equal `columns`: operation, time, cells),
    /// through a temporary copy of the live rows' keys, indexed on all of
    /// them: one probe per row, not a scan of the live queue.
    private static func dropSameEdits(of source: String, columns: [String], from target: String, in db: Database) throws {
        let keys = "temp.\("sync_sql_live_keys".quotedDatabaseIdentifier)"
        let listed = columns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        try db.execute(sql: "DROP TABLE IF EXISTS \(keys)")
        try db.execute(sql: "CREATE TABLE \(keys) AS SELECT \(listed) FROM \(source)")
        // On every column compared: the rows of one statement share their
        // time and operation (a million-row UPDATE, one millisecond).
        try db.execute(sql: "CREATE INDEX temp.sync_sql_live_keys_all ON \("sync_sql_live_keys".quotedDatabaseIdentifier)(\(listed))")
        let match = columns.map { "live.\($0.quotedDatabaseIdentifier) IS +queued.\($0.quotedDatabaseIdentifier)" }.joined(separator: " AND ")
        try db.execute(sql: "DELETE FROM \(target) WHERE rowid IN (SELECT queued.rowid FROM \(target) AS queued WHERE EXISTS (SELECT 1 FROM \(keys) AS live WHERE \(match)))")
        try db.execute(sql: "DROP TABLE \(keys)")
    }
}
