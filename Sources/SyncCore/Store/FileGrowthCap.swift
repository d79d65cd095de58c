import GRDB

extension Store {
    /// Caps the file at the pages it has now, for this store's own writing
    /// connection, or lifts the cap: what a full disk does to syncd's
    /// writes. One that needs a new page fails with SQLITE_FULL and rolls
    /// back; one that fits in free space still commits. The simulator's
    /// full-disk fault (another SQLite client, a restore's or a join's own
    /// connection is not capped).
    public func capFileGrowth(_ capped: Bool) throws {
        // SQLite's own cap, read on a connection that never set one.
        let uncapped = try DatabaseQueue().read { db in try Int.fetchOne(db, sql: "PRAGMA max_page_count") } ?? 1_073_741_823
        try pool.writeWithoutTransaction { db in
            let pages = capped ? try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 : uncapped
            _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)")
        }
    }
}
