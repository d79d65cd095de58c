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
    /// none): a local write it refuses fails, a received record's row it
    /// refuses is held back (replication-model §8), and a repair of the
    /// table would never settle. Dropping the index mends it.
    public let uniqueIndexes: [String]
    /// Collection tables not declared so that syncd's writes keep them the
    /// exact reading of the slots (`CollectionTableCheck`: the key, the
    /// columns, constraints). Their names; `--repair` makes them again from
    /// the replicated state (`Store.rebuildCollectionTables`). Their UNIQUE
    /// indexes are not listed in `uniqueIndexes`: the rebuild drops them.
    public let collectionTables: [String]
    /// One line per table in `collectionTables`, saying what is wrong.
    public let collectionTableProblems: [String]
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
    public var isEmpty: Bool { !rulesOutRepair && snapshotBlockers.isEmpty && collectionTables.isEmpty }
}

extension Store {
    /// The layout problems of this database; empty when sound. One read
    /// transaction.
    public func layoutProblems() throws -> StoreLayoutProblems {
        let opened = self.schema, seed = self.seed
        return try pool.read { db in
            // The schema the file holds now (another process may have added
            // a field since this store opened): its tables are made for it.
            let schema = CollectionTableCheck.same(String.fromDatabaseValue(try db.meta(MetaKey.schemaHash)), opened.hash)
                ? opened : try SchemaEvolution.effective(seed: seed, in: db).schema
            let tables = schema.tableCollections.map(\.name)
            let declared = try CollectionTableCheck.problems(db, schema: schema)
            let rebuilt = declared.map(\.table)
            return StoreLayoutProblems(storeTables: try Snapshots.storeTableProblems(db),
                                       uniqueIndexes: try Self.uniqueIndexProblems(db, tables: tables.filter { name in !rebuilt.contains { CollectionTableCheck.same($0, name) } }),
                                       collectionTables: rebuilt, collectionTableProblems: declared.map(\.problem),
                                       triggers: try Snapshots.triggerProblems(db), queues: try RestoredSQLEdits.layoutProblems(db))
        }
    }

    /// Makes each collection table of `tables` that `CollectionTableCheck`
    /// still finds declared otherwise again, in one transaction: dropped
    /// (its indexes and triggers with it) and laid out again as on open
    /// (`CollectionViews.prepare`: the table from the stored slots, its
    /// indexes, the SQL-edit triggers; queued SQL edits are kept).
    /// Replicated state is not touched. Refused when the file's schema is
    /// no longer the one this store opened with (a field added meanwhile
    /// would lose its column). Returns the names of the tables made again.
    @discardableResult
    public func rebuildCollectionTables(_ tables: [String]) throws -> [String] {
        let schema = self.schema
        return try pool.write { db in
            guard CollectionTableCheck.same(String.fromDatabaseValue(try db.meta(MetaKey.schemaHash)), schema.hash) else {
                throw StoreError.invalidEdit("the dataset's schema changed since this command opened the database; nothing was rebuilt. Run it again")
            }
            let (found, kept) = try Self.rebuildCollectionTables(in: db, schema: schema) { name in tables.contains { CollectionTableCheck.same($0, name) } }
            KeptColumns.log(kept, logger: options.logger, path: path, in: db)
            return found
        }
    }

    /// The collection tables `CollectionTableCheck` names (those `which`
    /// takes), made again from the records inside the caller's transaction,
    /// the cells of columns an analyst added copied aside first, as an open
    /// does (not in a join snapshot's copy, `keepingColumns` false: they are
    /// this analyst's, not the joiner's).
    static func rebuildCollectionTables(in db: Database, schema: Schema, keepingColumns: Bool = true,
                                        which: (String) -> Bool = { _ in true }) throws -> (tables: [String], kept: [KeptColumns]) {
        let found = try CollectionTableCheck.problems(db, schema: schema).map(\.table).filter(which)
        guard !found.isEmpty else { return ([], []) }
        let views = CollectionViews(schema: schema)
        var kept: [KeptColumns] = []
        for table in found {
            if keepingColumns, let collection = schema.tableCollections.first(where: { CollectionTableCheck.same($0.name, table) }),
               let copied = try views.keepUndeclaredColumns(of: collection, in: db) {
                kept.append(copied)
            }
            try db.dropTableOrView(named: table)
        }
        kept += try views.prepare(in: db)
        return (found, kept)
    }

    /// UNIQUE indexes made with CREATE INDEX (`origin` 'c') on the
    /// collection tables `tables` (a UNIQUE constraint of the declaration,
    /// 'u', is `CollectionTableCheck`'s: the table is made again). One that
    /// takes in `id` (the primary key) compared as bytes can never hold two
    /// records' rows, and is left out.
    static func uniqueIndexProblems(_ db: Database, tables: [String]) throws -> [String] {
        try uniqueIndexes(db, tables: tables).map { table, name in
            "a UNIQUE index syncd does not make on its table \(table): \(name) (a received record's row it refuses is left out until it is dropped, and a local write it refuses fails); drop it (`DROP INDEX \(name.quotedDatabaseIdentifier)`)"
        }
    }

    /// Every index made with CREATE INDEX on the tables of `collections`
    /// that syncd does not make (`CollectionViews.indexes`), UNIQUE or
    /// not, as (table, index): what a join snapshot's copy drops, since an
    /// index on an expression can refuse a row too (one that raises an
    /// error). One under the name of syncd's own is the analyst's unless
    /// it is what syncd makes under it (`isPlainIndex`): syncd does not make
    /// its own where the name is taken.
    static func analystIndexes(_ db: Database, collections: [CollectionSchema], views: CollectionViews) throws -> [(table: String, index: String)] {
        var found: [(table: String, index: String)] = []
        for collection in collections {
            let own = views.indexes(collection)
            for index in try createdIndexes(db, on: collection.name) {
                guard let name = index.name else { continue }
                if let field = own.first(where: { SQLiteName.same($0.name, name) })?.field,
                   !index.unique, !index.partial, try isPlainIndex(db, name, on: field) { continue }
                found.append((collection.name, name))
            }
        }
        return found
    }

    /// Whether index `name` is on the column `field` alone, ascending,
    /// compared as BINARY: what `CREATE INDEX … ON t(field)` makes.
    private static func isPlainIndex(_ db: Database, _ name: String, on field: String) throws -> Bool {
        let keys = try Row.fetchAll(db, sql: "SELECT name, \"desc\", coll FROM pragma_index_xinfo(?) WHERE key = 1", arguments: [name])
        guard keys.count == 1, let column = keys[0][0] as String? else { return false }
        return SQLiteName.same(column, field) && (keys[0][1] as Int64?) == 0 && (keys[0][2] as String?).map { SQLiteName.same($0, "BINARY") } == true
    }

    /// The indexes made with CREATE INDEX (`origin` 'c') on `table`, as
    /// SQLite lists them (the two lists above and below read them so).
    private static func createdIndexes(_ db: Database, on table: String) throws -> [(name: String?, unique: Bool, partial: Bool)] {
        try Row.fetchAll(db, sql: "SELECT name, \"unique\", partial FROM pragma_index_list(?) WHERE origin = 'c'", arguments: [table])
            .map { ($0[0] as String?, ($0[1] as Int64?) == 1, ($0[2] as Int64?) == 1) }
    }

    /// The indexes `uniqueIndexProblems` names, as (table, index).
    static func uniqueIndexes(_ db: Database, tables: [String]) throws -> [(table: String, index: String)] {
        var found: [(table: String, index: String)] = []
        for table in tables {
            for index in try createdIndexes(db, on: table) where index.unique {
                let name = index.name ?? "?"
                // `id` compared as bytes: an index on `id COLLATE NOCASE`
                // holds "cn" and "CN" as one, and is not left out.
                if try CollectionTableCheck.takesInIDAsBytes(name, db) { continue }
                found.append((table, name))
            }
        }
        return found
    }
}
