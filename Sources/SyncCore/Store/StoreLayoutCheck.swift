import GRDB

/// How a database's layout differs from the one this build makes, as
/// snapshot verification judges it (`Snapshots.layoutProblems`), in two
/// parts by what they cost the live database.
public struct StoreLayoutProblems: Sendable, Equatable {
    /// Store tables declared otherwise, or their indexes not this build's
    /// (a `sync_buckets` without its primary key keeps two rows for a
    /// bucket: the digest a write keeps is not the one a read finds). A
    /// repair would write where reads do not look; nothing mends it in place.
    public let storeTables: [String]
    /// Triggers syncd does not make, SQL-edit queues not laid out as
    /// queues: syncd's own writes run with triggers off and never touch a
    /// queue's layout, but every snapshot of the database fails verification
    /// while one is there.
    public let others: [String]

    public var isEmpty: Bool { storeTables.isEmpty && others.isEmpty }
}

extension Store {
    /// The layout problems of this database (for `syncctl check`); empty
    /// when sound. One read transaction.
    public func layoutProblems() throws -> StoreLayoutProblems {
        try pool.read { db in
            StoreLayoutProblems(storeTables: try Snapshots.storeTableProblems(db),
                                others: try Snapshots.triggerProblems(db) + RestoredSQLEdits.layoutProblems(db))
        }
    }
}
