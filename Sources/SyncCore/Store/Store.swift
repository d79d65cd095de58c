import CSQLiteSwitches
import Foundation
import GRDB
import Logging

/// The replicated record store: slot states in one SQLite file (WAL), with the
/// local seq feed, history, peer cursors, the digest and per-collection views.
///
/// Every operation is one transaction: a local write allocates exactly one dot;
/// a remote batch and its cursor commit together. Safe to use from many threads
/// (GRDB's `DatabasePool` serializes writers and runs readers concurrently) and
/// from several processes on the same file (`syncd` and `syncctl`).
public final class Store: Sendable {
    public struct Options: Sendable {
        /// How far the local clock may run ahead of wall time (replication-model §3).
        public var maxClockDriftMillis: UInt64 = HybridClock.defaultMaxDriftMillis
        /// Unix milliseconds now; replaced in tests and simulations.
        public var wallClock: @Sendable () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }
        /// 64 random bits (new replica ids and their nonces); the system's
        /// secure generator, replaced by a seeded one in simulations.
        public var random: @Sendable () -> UInt64 = {
            var generator = SystemRandomNumberGenerator()
            return generator.next()
        }
        /// `PRAGMA synchronous`: NORMAL survives a crash of the process (WAL); FULL also a power cut.
        public var synchronousFull = false
        public var logger = Logger(label: "syncd.store")
        /// Open read-only when the database is already set up (`syncctl`'s
        /// query commands): no WAL setup write and no checkpoint on close.
        /// Falls back to a normal open when setup work is needed.
        public var readOnly = false
        /// Hold `StoreUseLock` shared (beside the database) from before the
        /// open until the store is released, so a `snapshot restore` never
        /// renames a file over a database this process has open. On for a
        /// data directory's `data.db` (`DataDirectory.openStore`, `syncctl`),
        /// off for copies and scratch files.
        public var holdsUseLock = false
        /// Called before a `readOnly` open falls back to a writing open of a
        /// file of an older storage format (which that open would mark
        /// current); throwing stops the open before anything is written.
        /// `syncctl` refuses there while an older daemon runs on the file.
        public var beforeRaisingFormat: (@Sendable (_ held: Int) throws -> Void)?
        /// `PRAGMA journal_size_limit`: the size the WAL is cut back to when
        /// it starts over after a checkpoint. Without it the WAL keeps the
        /// size of the largest transaction so far (a seed, an import, the
        /// move from format 1) for as long as the daemon runs.
        public var walSizeLimit = 64 << 20
        /// `PRAGMA cache_size` of the writing connection, in bytes (at least
        /// 1 MiB). A merge reads and rewrites a few pages in each of several
        /// B-trees per record (record row, feed, history, table row); with
        /// SQLite's 2 MB default a 1,000-change delta on a million records
        /// reread most of them from the OS. Memory grows to it only as pages
        /// are used (docs/operations.md "Limits").
        public var writerCacheBytes = 64 << 20
        /// WAL pages after which a commit schedules a checkpoint on a thread
        /// of its own (`WALCheckpointer`; SQLite's automatic checkpoint, run
        /// inside the commit, has the same threshold by default).
        public var walCheckpointPages: Int32 = 1_000
        /// Whether a slot's first state leaves its versions out of
        /// `sync_history` until the slot next changes (storage format 5,
        /// docs/architecture.md "History"). Off only in tests, which compare
        /// what readers show with it on and off.
        public var deferFirstHistory = true
        /// What a received state may hold (replication-model §2.5); the text
        /// limit also bounds local writes.
        public var receiveLimits = ReceiveLimits()
        /// At most one new replica id per this many milliseconds because a
        /// received batch carried our id with a counter we never issued
        /// (replication-model §3.3): each renewal makes every peer pull our
        /// whole feed again, and a peer could otherwise force one per batch.
        /// Evidence within the interval refuses its batch instead.
        public var ownIdRenewalIntervalMillis: UInt64 = 10 * 60 * 1_000
        /// Tests only: an error to throw instead of writing the SQL edit
        /// with this number (the take-up's fallback for a failing write).
        var sqlEditWriteFault: (@Sendable (Int64) -> Error?)?
        /// Tests only: runs on the checkpoint's thread before each checkpoint (`WALCheckpointer`).
        var beforeWALCheckpoint: (@Sendable () -> Void)?

        public init() {}
    }

    public let path: String
    /// The schema the dataset started from (shipped, or `init --schema`).
    public let seed: Schema
    /// The seed plus the `_schema` records this database holds.
    let current: CurrentSchema
    /// The schema this store validates against now (docs/schema.md "How the schema evolves").
    public var schema: Schema { current.effective.schema }
    /// `_schema` records that cannot be used as they stand (conflicts, names taken).
    public var schemaDefinitionProblems: [SchemaEvolution.Problem] { current.effective.problems }
    public let options: Options
    /// A `DatabasePool` (concurrent readers); a single read-only connection
    /// when opened `readOnly` and already set up.
    let pool: any DatabaseWriter
    /// Checkpoints the writer's WAL off the commits (`WALCheckpointer`).
    let checkpointer: WALCheckpointer
    /// Held for the store's life when `Options.holdsUseLock`.
    let useLock: StoreUseLock?

    /// Opens (creating if needed) the database at `path`.
    ///
    /// When `deviceID` is given and differs from the device recorded in the file,
    /// the database was copied to another machine: it takes a new replica id so
    /// two devices never write under one id (replication-model §3).
    ///
    /// - Parameter schema: the seed schema; the store validates against it
    ///   plus the `_schema` records the database holds.
    public init(path: String, schema seed: Schema = .criticalMinerals, deviceID: String? = nil, options: Options = Options()) throws {
        if let problem = SQLiteVersion.runningProblem { throw StoreError.cannotOpen(path: path, reason: problem) }
        self.path = path
        self.seed = seed
        self.options = options
        current = CurrentSchema(SchemaEvolution.effective(seed: seed, records: []))
        let (useLock, lockUnavailable) = try Self.takeUseLock(beside: path, options: options)
        self.useLock = useLock
        let checkpointer = WALCheckpointer(path: path, pages: max(1, options.walCheckpointPages), logger: options.logger,
                                           beforeCheckpoint: options.beforeWALCheckpoint)
        self.checkpointer = checkpointer
        // A read-only open takes a file of an older readable format as it is
        // (so `syncctl get` does not mark a format-3 file 4 behind a 1.5
        // daemon); one that may write marks it current first.
        let setUp: @Sendable (any DatabaseWriter, ClosedRange<Int>) -> SchemaEvolution.Effective? = { pool, formats in
            try? pool.read { db in
                guard try StoreTables.migrator().hasCompletedMigrations(db) else { return nil }
                let effective = try SchemaEvolution.effective(seed: seed, in: db)
                return try Self.isSetUp(db, path: path, schema: effective.schema, deviceID: deviceID, formats: formats, live: options.holdsUseLock) ? effective : nil
            }
        }
        // Fast path (every `syncctl` command): a database that is already set
        // up for this schema and device is opened without a write transaction.
        if options.readOnly, FileManager.default.fileExists(atPath: path),
           let readOnly = try? Self.openPool(path: path, options: options, readOnly: true, checkpointer: checkpointer),
           let effective = setUp(readOnly, StoreTables.readableFormats) {
            pool = readOnly
            current.replace(effective)
            return
        }
        if options.readOnly, let hook = options.beforeRaisingFormat, let held = Self.storedFormat(path: path), held < StoreTables.formatVersion {
            try hook(held)
        }
        // A reader that could not take the use lock writes nothing: no
        // falling back to a writing open without it.
        if let lockUnavailable { throw lockUnavailable }
        pool = try Self.openPool(path: path, options: options, readOnly: false, checkpointer: checkpointer)
        let wall = options.wallClock()
        let logger = options.logger
        if let effective = setUp(pool, StoreTables.formatVersion...StoreTables.formatVersion) {
            current.replace(effective)
            try raiseCounterPastKeptCopies()
            return
        }
        let movingFromFormatOne = (try? pool.read { db in try db.holdsTable("sync_slots") && !db.holdsTable("sync_records") }) == true
        if movingFromFormatOne {
            logger.notice("moving the database to one row per record (format 2): the whole file is rewritten in one transaction, about 100 s per million records on 2 cores, with free disk of 1.6 times the file's size; if stopped, it rolls back and starts over at the next open", metadata: ["path": "\(path)"])
        }
        let started = Date()
        do {
            try StoreTables.migrator().migrate(pool)
        } catch {
            throw StoreError.cannotOpening(path: path, error)
        }
        if movingFromFormatOne {
            logger.notice("moved the database to format 2", metadata: ["path": "\(path)", "seconds": "\(String(format: "%.1f", Date().timeIntervalSince(started)))"])
        }
        let (retired, effective) = try pool.write { db -> (ReplicaID?, SchemaEvolution.Effective) in
            let before = try db.meta(MetaKey.replica).isNull ? nil : try db.replicaID()
            if let format = Int.fromDatabaseValue(try db.meta(MetaKey.format)), format > StoreTables.formatVersion {
                throw StoreError.unsupportedFormat(path: path, found: format, supported: StoreTables.formatVersion)
            }
            // The dataset this file holds decides, not the files beside it:
            // a stray or missing schema.json must not open one team's
            // records as another's (replication-model §8.2).
            // A database made before datasets were recorded could only hold
            // the shipped one (as a peer's hello without a lineage does).
            let held = String.fromDatabaseValue(try db.meta(MetaKey.dataset)) ?? (before == nil ? nil : SchemaLineage.shipped)
            if let held, !held.utf8.elementsEqual(seed.name.utf8) {
                throw StoreError.cannotOpen(path: path, reason: "it holds the dataset '\(SchemaLineage.display(held))', but it is being opened as '\(SchemaLineage.display(seed.name))': put back the schema.json (and seed.json) its data directory was started with, or give the data directory that holds '\(SchemaLineage.display(seed.name))'; a snapshot of another dataset cannot be restored or merged here")
            }
            try db.setMeta(MetaKey.dataset, seed.name)
            if try db.meta(MetaKey.replica).isNull {
                let replica = try Self.issueReplica(device: deviceID, random: options.random, in: db)
                try db.setMeta(MetaKey.format, StoreTables.formatVersion)
                try db.setMeta(MetaKey.counter, 0)
                try db.setMeta(MetaKey.hlc, 0)
                try db.setMeta(MetaKey.createdAt, Int64(wall))
                try Self.logReplica(replica, device: deviceID, reason: "created", at: wall, in: db)
                logger.debug("created database", metadata: ["path": "\(path)", "replica": "\(replica)"])
            }
            if let deviceID {
                let recorded = String.fromDatabaseValue(try db.meta(MetaKey.device))
                if let recorded, recorded != deviceID {
                    let replica = try Self.startNewReplica(reason: "opened by device \(deviceID), recorded \(recorded)", device: deviceID, at: wall, random: options.random, in: db)
                    logger.warning("database was opened by another device: new replica id", metadata: [
                        "path": "\(path)", "recorded_device": "\(recorded)", "device": "\(deviceID)", "replica": "\(replica)"])
                }
                try db.setMeta(MetaKey.device, deviceID)
                if !(try Self.holdsProvableReplica(db, device: deviceID)) {
                    let replica = try Self.startNewReplica(reason: "a replica id derived from this device's key, which peers of protocol 1.2 can check", device: deviceID, at: wall, random: options.random, in: db)
                    logger.notice("took a replica id that peers can check against this device's certificate (replication-model §3.3); each peer reads this replica's changes once more", metadata: [
                        "path": "\(path)", "replica": "\(replica)"])
                }
            }
            if let identity = FileIdentity.of(path: path) {
                let recorded = String.fromDatabaseValue(try db.meta(MetaKey.fileIdentity))
                if let recorded, recorded != identity {
                    let replica = try Self.startNewReplica(reason: "the database file is a copy (file \(identity), recorded \(recorded))",
                                                           device: String.fromDatabaseValue(try db.meta(MetaKey.device)), at: wall, random: options.random, in: db)
                    logger.warning("the database file is a copy of another (copied, restored or moved across file systems): new replica id, so the two never issue the same dot", metadata: [
                        "path": "\(path)", "replica": "\(replica)"])
                }
                try db.setMeta(MetaKey.fileIdentity, identity)
            }
            let counter = UInt64(Int64.fromDatabaseValue(try db.meta(MetaKey.counter)) ?? 0)
            if CounterMark.isBehind(replica: try db.replicaID(), counter: counter, for: path) {
                let mark = CounterMark.read(try db.replicaID(), for: path) ?? 0
                let replica = try Self.startNewReplica(reason: "the database went back in time: counter \(counter), but \(mark) was issued (overwritten in place by an older copy?)",
                                                       device: String.fromDatabaseValue(try db.meta(MetaKey.device)), at: wall, random: options.random, in: db)
                logger.warning("the database is older than the dots it issued (overwritten in place by a backup, or a file-system rollback): new replica id, so no dot is issued twice; restore with `syncctl snapshot restore` instead", metadata: [
                    "path": "\(path)", "counter": "\(counter)", "issued": "\(mark)", "replica": "\(replica)"])
            }
            if options.holdsUseLock { try Self.clearInheritedJoinMark(in: db) }
            let effective = try SchemaEvolution.effective(seed: seed, in: db)
            let triggersWereMissing = try db.holdsTable(SQLEditQueue.counterTable) && !(try SQLEditQueue.isInPlace(effective.schema, in: db, ofTablesThatExist: true))
            KeptColumns.log(try Self.adopt(effective, in: db), logger: logger, path: path, in: db)
            let heldFormat = Int.fromDatabaseValue(try db.meta(MetaKey.format)) ?? StoreTables.formatVersion
            if heldFormat < 5 {
                // Slots at or below this seq were written by a build that kept every version in history.
                try db.setMeta(MetaKey.deferredHistorySince, try Database.highestSeq(db))
            } else if try db.meta(MetaKey.deferredHistorySince).isNull {
                try db.setMeta(MetaKey.deferredHistorySince, 0)
            }
            try db.setMeta(MetaKey.format, StoreTables.formatVersion)
            if triggersWereMissing {
                logger.warning("the triggers that turn SQL writes to the collection tables into replicated edits were missing (dropped, or a table replaced by a client) and are back; writes made meanwhile were not replicated: `syncctl check` names the rows, `syncctl check --repair` rewrites them", metadata: ["path": "\(path)"])
            }
            let now = try db.replicaID()
            return (before.flatMap { $0 == now ? nil : $0 }, effective)
        }
        current.replace(effective)
        for problem in effective.problems {
            logger.warning("a schema definition is withheld", metadata: ["path": "\(path)", "problem": "\(problem)"])
        }
        if let retired { retireInMark(retired) }
        try raiseCounterPastKeptCopies()
        // Setting up may have rewritten the whole file in one transaction
        // (the move from format 1, a view rebuild): do not keep a WAL of that
        // size for as long as the store is open.
        do {
            // After the checkpoint the setup's commit may have started (it would keep this one from running).
            checkpointer.waitUntilIdle()
            try pool.writeWithoutTransaction { db in try db.truncateWAL() }
        } catch {
            logger.warning("could not cut the WAL back after setting up the database", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    /// How long a connection of the store waits for a lock before SQLITE_BUSY.
    static let busySeconds: TimeInterval = 30

    /// No checkpoint of this store's runs once it is gone.
    deinit { checkpointer.close() }

    /// This process's shared use lock of the database at `path`, when
    /// `holdsUseLock` (`StoreUseLock.shared(in:readOnly:)`).
    private static func takeUseLock(beside path: String, options: Options) throws -> (StoreUseLock?, StoreUseLockError?) {
        guard options.holdsUseLock else { return (nil, nil) }
        return try StoreUseLock.shared(in: URL(fileURLWithPath: path).deletingLastPathComponent(), readOnly: options.readOnly)
    }

    private static func openPool(path: String, options: Options, readOnly: Bool, checkpointer: WALCheckpointer) throws -> any DatabaseWriter {
        var configuration = ownConnectionConfiguration()
        configuration.busyMode = .timeout(busySeconds)
        configuration.readonly = readOnly
        let synchronous = options.synchronousFull ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            guard !readOnly else { return }
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            try db.execute(sql: "PRAGMA journal_size_limit = \(options.walSizeLimit)")
            // The writer's page cache (readers keep SQLite's 2 MB each).
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA cache_size = -\(max(options.writerCacheBytes, 1 << 20) >> 10)")
                // Its commits schedule checkpoints instead of running them.
                if let connection = db.sqliteConnection { checkpointer.install(on: connection) }
            }
        }
        do {
            return readOnly ? try DatabaseQueue(path: path, configuration: configuration)
                            : try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError.cannotOpening(path: path, error)
        }
    }

    /// The configuration of a connection that writes a store's file as the
    /// store's own connections do (theirs, a restore's staged copy, a join's
    /// copy, a format-1 file migrated for verification):
    /// - triggers off: the store writes the collection tables itself, and
    ///   the triggers that turn other clients' writes into queued edits must
    ///   not see those rewrites (docs/sql.md); nor may a trigger a file
    ///   brings fire;
    /// - foreign keys off: an analyst's own table may declare one to a
    ///   collection table, and the replicated state is not held to it (a
    ///   record a peer deleted is deleted here too, a table rebuilt is
    ///   rebuilt).
    static func ownConnectionConfiguration() -> Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false
        configuration.prepareDatabase { db in try disableTriggers(db) }
        return configuration
    }

    /// Turns off the triggers of one of the store's connections, and checks that they are off.
    static func disableTriggers(_ db: Database) throws {
        var enabled: Int32 = 1
        let code = syncd_sqlite_enable_triggers(UnsafeMutableRawPointer(db.sqliteConnection), 0, &enabled)
        guard code == 0, enabled == 0 else {
            throw StoreError.cannotOpen(path: db.description, reason: "SQLite would not turn triggers off on the store's connection (code \(code))")
        }
    }

    /// Whether opening needs no write: format in `formats`, replica and device
    /// recorded as given, schema hash and view tables current; for a `live`
    /// database, no join's mark of a whole copy (`clearInheritedJoinMark`).
    static func isSetUp(_ db: Database, path: String, schema: Schema, deviceID: String?, formats: ClosedRange<Int>, live: Bool) throws -> Bool {
        guard let format = Int.fromDatabaseValue(try db.meta(MetaKey.format)), formats.contains(format),
              !(try db.meta(MetaKey.replica)).isNull,
              String.fromDatabaseValue(try db.meta(MetaKey.schemaHash)) == schema.hash,
              String.fromDatabaseValue(try db.meta(MetaKey.dataset)).map({ $0.utf8.elementsEqual(schema.name.utf8) }) == true else { return false }
        if let deviceID {
            guard String.fromDatabaseValue(try db.meta(MetaKey.device)) == deviceID,
                  try holdsProvableReplica(db, device: deviceID) else { return false }
        }
        if String.fromDatabaseValue(try db.meta(MetaKey.fileIdentity)) != FileIdentity.of(path: path) { return false }
        if live, !(try db.meta(MetaKey.joinAsideComplete)).isNull { return false }
        if CounterMark.isBehind(replica: try db.replicaID(), counter: UInt64(Int64.fromDatabaseValue(try db.meta(MetaKey.counter)) ?? 0), for: path) {
            return false
        }
        return try CollectionViews(schema: schema).isCurrent(in: db)
    }

    /// This database's current replica id.
    public var replicaID: ReplicaID {
        get throws { try pool.read { try $0.replicaID() } }
    }

    /// The device recorded as owning this database, if any.
    public var deviceID: String? {
        get throws { try pool.read { String.fromDatabaseValue(try $0.meta(MetaKey.device)) } }
    }

    /// Gives the database a new replica id (after a restore, or when found copied).
    /// The dot counter restarts for the new id; versions of the old id stay as they are.
    @discardableResult
    public func startNewReplica(reason: String) throws -> ReplicaID {
        let wall = options.wallClock()
        let (old, new) = try pool.write { db in
            (try db.replicaID(), try Self.startNewReplica(reason: reason, device: String.fromDatabaseValue(try db.meta(MetaKey.device)), at: wall, random: options.random, in: db))
        }
        retireInMark(old)
        return new
    }

    static func startNewReplica(reason: String, device: String?, at wall: UInt64, random: @Sendable () -> UInt64 = Options().random,
                                in db: Database) throws -> ReplicaID {
        let replica = try issueReplica(device: device, random: random, in: db)
        try db.setMeta(MetaKey.counter, 0)
        try logReplica(replica, device: device, reason: reason, at: wall, in: db)
        return replica
    }

    /// After a renewal committed: the old id issues no more dots, so a copy
    /// of the database that comes back to it is caught (`CounterMark`).
    func retireInMark(_ replica: ReplicaID) {
        do {
            try CounterMark.retire(replica, for: path)
        } catch {
            options.logger.warning("the new replica id is saved, but the counter mark could not retire the old one, so a later overwrite of data.db by an older copy may go unnoticed; check the data directory's permissions and free space", metadata: [
                "error": "\(error)"])
        }
    }

    /// Records a new replica id: derived from `device` with a fresh nonce
    /// (`ReplicaProof`) when `device` is a device ID, random otherwise (a
    /// store opened without one, as in tests and tools).
    static func issueReplica(device: String?, random: @Sendable () -> UInt64, in db: Database) throws -> ReplicaID {
        guard let device = device.flatMap(DeviceID.init) else {
            try db.execute(sql: "DELETE FROM sync_meta WHERE key = ?", arguments: [MetaKey.replicaNonce])
            let replica = ReplicaID(high: random(), low: random())
            try db.setMeta(MetaKey.replica, replica.data)
            return replica
        }
        let nonce = ReplicaID(high: random(), low: random()).bytes
        let replica = ReplicaProof.replica(device: device, nonce: nonce)
        try db.setMeta(MetaKey.replicaNonce, Data(nonce))
        try db.setMeta(MetaKey.replica, replica.data)
        return replica
    }

    /// Whether the current replica id is one `device` can prove (true when
    /// `device` is not a device ID: there is nothing to prove it with).
    static func holdsProvableReplica(_ db: Database, device: String) throws -> Bool {
        guard let id = DeviceID(device) else { return true }
        guard let nonce = Data.fromDatabaseValue(try db.meta(MetaKey.replicaNonce)) else { return false }
        return ReplicaProof.proves(replica: try db.replicaID(), device: id, nonce: [UInt8](nonce))
    }

    /// The current replica id and the nonce that proves it (nil for an id
    /// made without a device ID), read together.
    public func replicaIdentity() throws -> (replica: ReplicaID, nonce: [UInt8]?) {
        try pool.read { db in
            (try db.replicaID(), Data.fromDatabaseValue(try db.meta(MetaKey.replicaNonce)).map { [UInt8]($0) })
        }
    }

    static func logReplica(_ replica: ReplicaID, device: String?, reason: String, at wall: UInt64, in db: Database) throws {
        try db.execute(sql: "INSERT INTO sync_replica_log(replica, device, started_at, reason) VALUES (?, ?, ?, ?)",
                       arguments: [replica.data, device, Int64(wall), reason])
    }

    /// The storage format this build writes; a file of a lower one is
    /// marked with it at the first writing open (docs/operations.md "Upgrading").
    public static let writtenFormat = StoreTables.formatVersion

    /// The storage format a database file says it holds, read through a
    /// read-only connection (nil when it cannot be read or says none).
    public static func storedFormat(path: String) -> Int? {
        var configuration = Configuration()
        configuration.readonly = true
        guard let queue = try? DatabaseQueue(path: path, configuration: configuration) else { return nil }
        defer { try? queue.close() }
        return try? queue.read { db in
            guard try db.holdsTable("sync_meta") else { return nil }
            return Int.fromDatabaseValue(try db.meta(MetaKey.format))
        }
    }

    /// The highest seq stamped so far (0 for an empty store).
    public func highestSeq() throws -> UInt64 {
        try pool.read { db in UInt64(try Database.highestSeq(db)) }
    }

    /// The digest of the replicated state (replication-model §4): equal on converged replicas.
    public func digest() throws -> StateDigest {
        try pool.read { try StateDigest.read(from: $0) }
    }

    /// Runs a read-only closure on a consistent snapshot of the database.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    /// SQLite's `data_version` changes when another connection commits: how the
    /// daemon notices writes made by `syncctl`.
    public func dataVersion() throws -> Int64 {
        try pool.read { try Int64.fetchOne($0, sql: "PRAGMA data_version") ?? 0 }
    }
}

extension Store {
    /// Runs `body` in a write transaction on the store's own connection.
    ///
    /// For tools and benchmarks that need the same connection and pragmas as
    /// the store; writing `sync_` tables through it bypasses every invariant.
    public func withWriteTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.write(body)
    }
}
