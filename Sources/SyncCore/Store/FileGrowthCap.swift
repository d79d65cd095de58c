import GRDB

extension Store {
    /// Caps the file at the pages it has now, for this store's own writing
    /// connection, or lifts the cap: much of what a full disk does to
    /// syncd's writes. A statement that needs a new page fails with
    /// SQLITE_FULL and its transaction rolls back; one that fits in free
    /// space still commits (a real disk may also fail the WAL append at
    /// commit, or a checkpoint: not modelled). The simulator's full-disk
    /// fault; another SQLite client, files written beside the database and
    /// a restore's own connection are not capped. `package`: no program of
    /// syncd calls it.
    package func capFileGrowth(_ capped: Bool) throws {
        // SQLite's own cap, read on a connection that never set one.
        let uncapped = try DatabaseQueue().read { db in try Int.fetchOne(db, sql: "PRAGMA max_page_count") } ?? 1_073_741_823
        try pool.writeWithoutTransaction { db in
            let pages = capped ? try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 : uncapped
            _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)")
        }
    }
}
