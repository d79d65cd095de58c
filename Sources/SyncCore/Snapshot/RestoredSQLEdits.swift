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
        if try db.tableExists(SQLEditQueue.counterTable, in: "main") {
            try db.execute(sql: "DROP TABLE \(SQLEditQueue.counterTable)")
        }
        let tables = try queueTables(in: db)
        let numbers = "temp.\("sync_sql_numbers".quotedDatabaseIdentifier)"
        try db.execute(sql: "DROP TABLE IF EXISTS \(numbers)")
        try db.execute(sql: "CREATE TABLE \(numbers)(tbl TEXT NOT NULL, edit, n INTEGER)")
        for table in tables {
            try db.execute(sql: "INSERT INTO \(numbers)(tbl, edit) SELECT ?, edit FROM main.\(table.quotedDatabaseIdentifier)", arguments: [table])
        }
        try db.execute(sql: """
            UPDATE \(numbers) SET n = ranked.n FROM (SELECT rowid AS id, row_number() OVER (ORDER BY edit, tbl) AS n FROM \(numbers)) AS ranked
            WHERE \(numbers).rowid = ranked.id
            """)
        try db.execute(sql: "CREATE INDEX temp.sync_sql_numbers_by_edit ON \("sync_sql_numbers".quotedDatabaseIdentifier)(tbl, edit)")
        for table in tables {
            let columns = try db.columns(in: table, in: "main").map(\.name)
            let cells = columns.filter { column in !SQLEditQueue.fixedColumns.contains { $0.utf8.elementsEqual(column.utf8) } }
            let name = table.lowercased()
            let number = "(SELECT n FROM \(numbers) AS numbers WHERE numbers.tbl = \(literal(table)) AND numbers.edit IS queued.edit LIMIT 1)"
            try SQLEditQueue.rewrite(table, as: name, cellColumns: cells, copying: columns, number: number, in: db)
            try db.execute(sql: SQLEditQueue.pendingIndex(name))
            try db.execute(sql: """
                UPDATE \(name.quotedDatabaseIdentifier) SET reason = \(literal(reason + " `syncctl sql retry ")) || edit || '` writes it, `syncctl sql discard ' || edit || '` drops it', refused_at = ?
                WHERE reason IS NULL
                """, arguments: [wall])
        }
        let count = try Int64.fetchOne(db, sql: "SELECT count(*) FROM \(numbers)") ?? 0
        try db.execute(sql: "DROP TABLE \(numbers)")
        try db.execute(sql: "CREATE TABLE \(SQLEditQueue.counterTable)(n INTEGER NOT NULL)")
        try db.execute(sql: "INSERT INTO \(SQLEditQueue.counterTable)(n) VALUES (?)", arguments: [count])
    }

    /// Why an edit that came waiting in a snapshot is kept refused.
    static func snapshotReason(_ name: String) -> String {
        "it came with snapshot \(name), still waiting to be taken up when the snapshot was taken; it may have been taken up or discarded since, and is not written again unless you say so:"
    }

    /// SQL text of a literal: single quotes doubled.
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

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
        let tables = try queueTables(in: db).map { table in (table, try db.columns(in: table, in: "main").map(\.name)) }
        var carried = 0
        // Those with their numbers first (their order is the statements'), then the others.
        for numbered in [true, false] {
            var highest: Int64 = 0
            for (table, columns) in tables where columns.contains("edit") == numbered {
                let name = table.lowercased()
                let source = "main.\(table.quotedDatabaseIdentifier)"
                let qualified = "\(target.quotedDatabaseIdentifier).\(name.quotedDatabaseIdentifier)"
                let cells = columns.filter { column in !SQLEditQueue.fixedColumns.contains { $0.utf8.elementsEqual(column.utf8) } }
                if try db.tableExists(name, in: target) {
                    let there = try db.columns(in: name, in: target).map(\.name)
                    let same = (["op", "at"] + cells).filter { column in there.contains { $0.utf8.elementsEqual(column.utf8) } && columns.contains(column) }
                    let match = same.map { "live.\($0.quotedDatabaseIdentifier) IS \(name.quotedDatabaseIdentifier).\($0.quotedDatabaseIdentifier)" }
                    try db.execute(sql: "DELETE FROM \(qualified) WHERE EXISTS (SELECT 1 FROM \(source) AS live WHERE \(match.joined(separator: " AND ")))")
                    for cell in cells where !there.contains(where: { $0.utf8.elementsEqual(cell.utf8) }) {
                        try db.execute(sql: "ALTER TABLE \(qualified) ADD COLUMN \(cell.quotedDatabaseIdentifier)")
                    }
                } else {
                    try db.execute(sql: SQLEditQueue.declaration(qualified, cellColumns: cells))
                    try db.execute(sql: SQLEditQueue.pendingIndex(name, schema: target))
                }
                let number = numbered ? "edit" : "rowid"
                let others = columns.filter { $0 != "edit" }.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
                try db.execute(sql: "INSERT INTO \(qualified)(edit, \(others)) SELECT \(number) + ?, \(others) FROM \(source) ORDER BY \(number)",
                               arguments: [next])
                carried += db.changesCount
                highest = max(highest, try Int64.fetchOne(db, sql: "SELECT max(\(number)) FROM \(source)") ?? 0)
            }
            next += highest
        }
        try db.execute(sql: "UPDATE \(counter) SET n = ?", arguments: [next])
        return carried
    }
}
