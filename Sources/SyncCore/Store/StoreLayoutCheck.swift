import GRDB

extension Store {
    /// How this database's store tables differ from the way this build
    /// declares them (`Snapshots.layoutProblems`, what snapshot verification
    /// and a restore refuse): a store table declared otherwise (a
    /// `sync_buckets` without its primary key keeps a second row per bucket,
    /// and the digest a write keeps is not the one a read finds), an index
    /// added or missing, a trigger on a store table, an SQL-edit queue that is
    /// not laid out as one. Nothing here repairs it; empty when sound. One
    /// read transaction (for `syncctl check`).
    public func layoutProblems() throws -> [String] {
        try pool.read { db in try Snapshots.layoutProblems(db) }
    }
}
