// libFuzzer target: the check and the adoption of a join snapshot, the
// SQLite file a peer sends a replica that joins by it (replication-model
// §4.6). The peer controls every byte of that file.
//
// Once per process, deterministically (a fixed clock, seeded replica ids,
// the file identity cell fixed and the file vacuumed: its SHA-256 is
// printed at the start, the same in every process), a
// peer store is made (the seed, an added field, agreements created, updated
// and deleted, a conflict with a second replica, set members added and
// removed), its join snapshot taken (`takeJoinSnapshot`), and a joiner store
// holding the seed only. Each input is a list of edits made to a copy of
// that snapshot (the file's triggers set aside meanwhile), each a few bytes:
// a cell set to NULL, an integer, raw text (not necessarily UTF-8) or blob
// bytes, or its own bytes flipped, cut or lengthened, or another row's; a row
// deleted or copied; a `sync_meta` value replaced; a table's schema changed
// (an index or trigger dropped, a column added, a table swapped for a view,
// a trigger or table planted); bytes of the file overwritten. The joiner
// (a fresh copy) then does what the daemon does with a received file:
// `JoinSnapshotCheck.verifyHeader`, then `adoptJoinSnapshot` with
// `JoinSnapshotCheck.verify` as its check.
//
// Invariants (a violation traps, which libFuzzer reports as a crash):
//  - the check and the adoption never trap; they adopt, or throw a
//    `JoinSnapshotRefusal` (anything else is a file the check passed that
//    the copy could not take, or a joiner left unusable);
//  - a refused snapshot leaves the joiner as it was: its replica id and
//    digest unchanged, nothing left beside its database (no copy kept
//    aside, no staging file);
//  - an adopted one leaves a consistent store: the digest it keeps is the
//    check's and equals the one recomputed from its slots; its replica id is
//    new (neither the peer's nor its own before); its collection tables
//    show exactly its records (`viewDrift` finds nothing); every record,
//    history, conflict list, the recent changes and `integrityReport()`
//    read without an error; the database kept aside to be merged back
//    holds the joiner's digest from before the join;
//  - the snapshot as taken (the empty input) is adopted.
//
// Built with `-sanitize=fuzzer -DFUZZING` this is a libFuzzer binary; built
// without (plain `swift build`) it replays the files and directories given
// as arguments through the same checks.

import Crypto
import Foundation
import FuzzSupport
import GRDB
import Synchronization
import SyncCore
import TestSupport

let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] == "1"
/// The stores' wall clock (2026-01-01T00:00:00Z).
let wallMillis: UInt64 = 1_767_225_600_000
/// Edits per input, at most.
let maxEdits = 24

func fail(_ message: String, _ input: [UInt8]) -> Never { FuzzDriver.fail("fuzz-join", message, input) }
func require(_ condition: Bool, _ message: @autoclosure () -> String, _ input: [UInt8]) {
    if !condition { fail(message(), input) }
}

/// Options of a store whose ids and clock depend on `seed` alone.
func deterministicOptions(seed: UInt64) -> Store.Options {
    var options = Store.Options()
    options.wallClock = { wallMillis }
    let state = Mutex(seed)
    options.random = {
        // splitmix64
        state.withLock { value in
            value &+= 0x9E37_79B9_7F4A_7C15
            var z = value
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
    return options
}

/// A table of the snapshot, and how its rows are addressed.
struct TableShape {
    let name: String
    let columns: [String]
    /// `rowid`, or the primary key's columns of a WITHOUT ROWID table.
    let key: [String]
}

/// What every input starts from.
final class Template {
    let directory: URL
    let snapshot: [UInt8]
    let joinerFiles: [String: [UInt8]]
    let peerReplica: ReplicaID
    let seed: Schema
    let tables: [TableShape]
    let indexes: [String]
    let metaKeys: [String]
    var inputs = 0
    var adopted = 0
    var refused = 0
    /// The joiner, open while its inputs are refused.
    var joiner: Store?

    init() {
        // In memory where there is a tmpfs: an input writes and syncs a few
        // small databases, and syncing them to a disk is most of its time.
        let base = access("/dev/shm", W_OK) == 0 ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        FuzzDriver.removeStaleScratch(prefix: "fuzz-join", in: base)
        directory = base.appendingPathComponent("fuzz-join-\(getpid())-\(UUID().uuidString)")
        let make = directory.appendingPathComponent("template")
        do {
            try FileManager.default.createDirectory(at: make, withIntermediateDirectories: true)
            var peer: Store? = try Store(path: make.appendingPathComponent("peer.db").path, options: deterministicOptions(seed: 1))
            var other: Store? = try Store(path: make.appendingPathComponent("other.db").path, options: deterministicOptions(seed: 2))
            try Self.fill(peer!, other!)
            peerReplica = try peer!.replicaID
            seed = peer!.seed
            let file = make.appendingPathComponent("snapshot.syncsnap")
            _ = try peer!.takeJoinSnapshot(to: file)
            peer = nil
            other = nil
            // The one cell that differs from process to process (the peer
            // file's device and inode): the same in every template, so a
            // crash input replays on the same bytes.
            let fixing = try DatabaseQueue(path: file.path)
            try fixing.writeWithoutTransaction { db in
                try db.execute(sql: "UPDATE sync_meta SET value = '0:0' WHERE key = 'file_identity'")
                try db.execute(sql: "VACUUM")
            }
            try fixing.close()
            snapshot = [UInt8](try Data(contentsOf: file))
            let joinerPath = make.appendingPathComponent("joiner.db").path
            var joiner: Store? = try Store(path: joinerPath, options: deterministicOptions(seed: 3))
            try joiner!.seed(SeedData.criticalMinerals())
            joiner = nil
            var files: [String: [UInt8]] = [:]
            for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: joinerPath + suffix) {
                files["data.db" + suffix] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: joinerPath + suffix)))
            }
            joinerFiles = files
            let queue = try DatabaseQueue(path: file.path)
            (tables, indexes, metaKeys) = try queue.read { db in
                let names = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name")
                let tables = try names.map { name in
                    let info = try Row.fetchAll(db, sql: "PRAGMA table_info(\(name.quotedDatabaseIdentifier))")
                    let columns = info.map { $0["name"] as String }
                    let withoutRowid = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = ?", arguments: [name])?
                        .uppercased().contains("WITHOUT ROWID") ?? false
                    let key = withoutRowid ? info.filter { ($0["pk"] as Int) > 0 }.sorted { ($0["pk"] as Int) < ($1["pk"] as Int) }.map { $0["name"] as String } : ["rowid"]
                    return TableShape(name: name, columns: columns, key: key)
                }
                let indexes = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
                let metaKeys = try String.fetchAll(db, sql: "SELECT key FROM sync_meta ORDER BY key")
                return (tables, indexes, metaKeys)
            }
            try queue.close()
        } catch {
            fatalError("fuzz-join: cannot make the template: \(error)")
        }
        atexit { if let template = FuzzJoin.template { try? FileManager.default.removeItem(at: template.directory) } }
        print("fuzz-join: template snapshot of \(snapshot.count) bytes, SHA-256 \(FuzzDriver.hex(Array(SHA256.hash(data: snapshot))))")
        if verbose { print("tables \(tables.map(\.name))") }
    }

    /// The peer's data: the seed, an added field, creates, updates, a
    /// delete, set members, and a conflict with `other`.
    static func fill(_ peer: Store, _ other: Store) throws {
        try peer.seed(SeedData.criticalMinerals())
        try TestSupport.pull(into: other, from: peer, batchSize: 500)
        try peer.changeSchema(.addField(collection: "agreements", field: "value_usd", type: "decimal", values: [], targets: [], description: nil), author: "ana")
        for index in 0..<12 {
            try peer.create(RecordRef(collection: "agreements", id: "fuzz-\(index)"),
                            [.set("title", .text("Agreement \(index) — «ü»")), .set("status", .text("active")), .set("value_usd", .text("\(index).5"))],
                            author: "ana")
        }
        try peer.update(RecordRef(collection: "agreements", id: "fuzz-1"), [.set("status", .text("suspended"))], author: "ana")
        try peer.delete(RecordRef(collection: "agreements", id: "fuzz-2"), author: "ana")
        try TestSupport.pull(into: other, from: peer, batchSize: 500)
        // Concurrent writes of one field: a conflict on both.
        try peer.update(RecordRef(collection: "agreements", id: "fuzz-3"), [.set("status", .text("expired"))], author: "ana")
        try other.update(RecordRef(collection: "agreements", id: "fuzz-3"), [.set("status", .text("negotiating"))], author: "rui")
        try other.create(RecordRef(collection: "agreements", id: "from-other"), [.set("title", .text("Written elsewhere")), .set("status", .text("active"))],
                         author: "rui")
        try TestSupport.pull(into: peer, from: other, batchSize: 500)
    }
}

enum FuzzJoin {
    nonisolated(unsafe) static var template: Template?
}

/// The input, read a byte at a time (zeros once it runs out).
struct Reader {
    let bytes: [UInt8]
    var index = 0
    var isEmpty: Bool { index >= bytes.count }
    mutating func byte() -> UInt8 {
        defer { index += 1 }
        return index < bytes.count ? bytes[index] : 0
    }
    mutating func take(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }
    mutating func integer() -> Int64 { take(8).reduce(Int64(0)) { ($0 << 8) | Int64($1) } }
}

/// One edit of the snapshot, as the input says.
enum Edit: CustomStringConvertible {
    case setCell(table: Int, row: Int, column: Int, value: Cell)
    case deleteRow(table: Int, row: Int)
    case copyRow(table: Int, row: Int)
    case setMeta(key: Int, value: Cell)
    case schema(kind: Int, table: Int, pick: Int)
    case overwrite(offset: UInt32, bytes: [UInt8])

    var description: String {
        switch self {
        case let .setCell(table, row, column, value): "set table \(table) row \(row) column \(column) to \(value)"
        case let .deleteRow(table, row): "delete table \(table) row \(row)"
        case let .copyRow(table, row): "copy table \(table) row \(row)"
        case let .setMeta(key, value): "set meta \(key) to \(value)"
        case let .schema(kind, table, pick): "schema change \(kind) on table \(table) (\(pick))"
        case let .overwrite(offset, bytes): "overwrite \(bytes.count) bytes at \(offset)"
        }
    }
}

/// What a cell becomes.
enum Cell: CustomStringConvertible {
    case null
    case integer(Int64)
    case text([UInt8])
    case blob([UInt8])
    /// Its own bytes, changed: (kind, position, byte) each.
    case mutated([(UInt8, UInt8, UInt8)])
    /// Another row's value of the same column.
    case fromRow(Int)

    var description: String {
        switch self {
        case .null: "NULL"
        case .integer(let value): "\(value)"
        case .text(let bytes): "text \(FuzzDriver.hex(bytes))"
        case .blob(let bytes): "blob \(FuzzDriver.hex(bytes))"
        case .mutated(let changes): "its bytes changed \(changes.map { "\($0.0 % 4)@\($0.1)=\($0.2)" })"
        case .fromRow(let row): "row \(row)'s"
        }
    }

    static func read(_ reader: inout Reader) -> Cell {
        switch reader.byte() % 6 {
        case 0: return .null
        case 1: return .integer(reader.integer())
        case 2: return .text(reader.take(Int(reader.byte() % 48)))
        case 3: return .blob(reader.take(Int(reader.byte() % 48)))
        case 4: return .mutated((0..<(1 + Int(reader.byte() % 4))).map { _ in (reader.byte(), reader.byte(), reader.byte()) })
        default: return .fromRow(Int(reader.byte()))
        }
    }
}

func edits(_ input: [UInt8]) -> [Edit] {
    var reader = Reader(bytes: input)
    var result: [Edit] = []
    while !reader.isEmpty, result.count < maxEdits {
        switch reader.byte() % 8 {
        case 0, 1, 2: result.append(.setCell(table: Int(reader.byte()), row: Int(reader.byte()), column: Int(reader.byte()), value: Cell.read(&reader)))
        case 3: result.append(.deleteRow(table: Int(reader.byte()), row: Int(reader.byte())))
        case 4: result.append(.copyRow(table: Int(reader.byte()), row: Int(reader.byte())))
        case 5: result.append(.setMeta(key: Int(reader.byte()), value: Cell.read(&reader)))
        case 6: result.append(.schema(kind: Int(reader.byte()), table: Int(reader.byte()), pick: Int(reader.byte())))
        default:
            let offset = reader.take(4).reduce(UInt32(0)) { ($0 << 8) | UInt32($1) }
            result.append(.overwrite(offset: offset, bytes: reader.take(1 + Int(reader.byte() % 16))))
        }
    }
    return result
}

/// The key of row `row` (modulo the count) of `table`, or nil when it is empty.
func rowKey(_ table: TableShape, _ row: Int, in db: Database) throws -> [DatabaseValue]? {
    let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.name.quotedDatabaseIdentifier)") ?? 0
    guard count > 0 else { return nil }
    let keys = table.key.map { $0 == "rowid" ? "rowid" : $0.quotedDatabaseIdentifier }.joined(separator: ", ")
    let fetched = try Row.fetchOne(db, sql: "SELECT \(keys) FROM \(table.name.quotedDatabaseIdentifier) ORDER BY \(keys) LIMIT 1 OFFSET ?",
                                   arguments: [row % count])
    return fetched.map { row in (0..<row.count).map { row[$0] as DatabaseValue } }
}

func whereKey(_ table: TableShape) -> String {
    table.key.map { "\($0 == "rowid" ? "rowid" : $0.quotedDatabaseIdentifier) IS ?" }.joined(separator: " AND ")
}

/// The SQL expression and arguments that write `cell` over `current`.
func expression(_ cell: Cell, current: DatabaseValue, other: DatabaseValue?) -> (String, [DatabaseValue]) {
    switch cell {
    case .null: return ("NULL", [])
    case .integer(let value): return ("?", [value.databaseValue])
    case .text(let bytes): return ("CAST(? AS TEXT)", [Data(bytes).databaseValue])
    case .blob(let bytes): return ("?", [Data(bytes).databaseValue])
    case .fromRow: return ("?", [other ?? .null])
    case .mutated(let changes):
        var bytes: [UInt8]
        let isText: Bool
        switch current.storage {
        case .blob(let data): bytes = [UInt8](data); isText = false
        case .string(let text): bytes = Array(text.utf8); isText = true
        case .int64(let value): return ("?", [(value ^ Int64(changes[0].2)).databaseValue])
        case .double(let value): return ("?", [(value + Double(changes[0].2)).databaseValue])
        case .null: bytes = []; isText = false
        }
        for (kind, position, byte) in changes {
            let at = bytes.isEmpty ? 0 : Int(position) % bytes.count
            switch kind % 4 {
            case 0: if !bytes.isEmpty { bytes[at] ^= max(1, byte) }
            case 1: bytes.insert(byte, at: at)
            case 2: if !bytes.isEmpty { bytes.remove(at: at) }
            default: bytes = Array(bytes.prefix(at))
            }
        }
        return (isText ? "CAST(? AS TEXT)" : "?", [Data(bytes).databaseValue])
    }
}

/// Makes `edits` on the file at `path` (SQL edits with the file's triggers
/// set aside, then byte overwrites). An edit SQLite refuses is skipped.
func apply(_ edits: [Edit], to path: String, template: Template) {
    do {
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            let triggers = try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
            for trigger in triggers { try db.execute(sql: "DROP TRIGGER \((trigger["name"] as String).quotedDatabaseIdentifier)") }
            for edit in edits {
                do { try sqlEdit(edit, in: db, template: template) } catch { if verbose { print("  skipped (\(edit)): \(error)") } }
            }
            for trigger in triggers { try? db.execute(sql: trigger["sql"] as String) }
        }
        try queue.close()
    } catch {
        if verbose { print("  the edits could not be made: \(error)") }
    }
    let overwrites = edits.compactMap { if case let .overwrite(offset, bytes) = $0 { (offset, bytes) } else { nil } }
    guard !overwrites.isEmpty, let handle = FileHandle(forUpdatingAtPath: path) else { return }
    defer { try? handle.close() }
    let size = (try? handle.seekToEnd()) ?? 0
    for (offset, bytes) in overwrites where size > 0 {
        try? handle.seek(toOffset: UInt64(offset) % size)
        try? handle.write(contentsOf: Data(bytes))
    }
}

func sqlEdit(_ edit: Edit, in db: Database, template: Template) throws {
    let tables = template.tables
    switch edit {
    case let .setCell(tableIndex, row, column, cell):
        let table = tables[tableIndex % tables.count]
        guard let key = try rowKey(table, row, in: db) else { return }
        let name = table.columns[column % table.columns.count].quotedDatabaseIdentifier
        let current = try DatabaseValue.fetchOne(db, sql: "SELECT \(name) FROM \(table.name.quotedDatabaseIdentifier) WHERE \(whereKey(table))",
                                                 arguments: StatementArguments(key)) ?? .null
        var other: DatabaseValue?
        if case .fromRow(let source) = cell, let otherKey = try rowKey(table, source, in: db) {
            other = try DatabaseValue.fetchOne(db, sql: "SELECT \(name) FROM \(table.name.quotedDatabaseIdentifier) WHERE \(whereKey(table))",
                                               arguments: StatementArguments(otherKey))
        }
        let (value, arguments) = expression(cell, current: current, other: other)
        try db.execute(sql: "UPDATE \(table.name.quotedDatabaseIdentifier) SET \(name) = \(value) WHERE \(whereKey(table))",
                       arguments: StatementArguments(arguments + key))
    case let .deleteRow(tableIndex, row):
        let table = tables[tableIndex % tables.count]
        guard let key = try rowKey(table, row, in: db) else { return }
        try db.execute(sql: "DELETE FROM \(table.name.quotedDatabaseIdentifier) WHERE \(whereKey(table))", arguments: StatementArguments(key))
    case let .copyRow(tableIndex, row):
        // A copy under a new rowid (a duplicate of a WITHOUT ROWID table's
        // key is refused by SQLite, and skipped).
        let table = tables[tableIndex % tables.count]
        guard let key = try rowKey(table, row, in: db) else { return }
        let columns = table.columns.map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        try db.execute(sql: "INSERT INTO \(table.name.quotedDatabaseIdentifier)(\(columns)) SELECT \(columns) FROM \(table.name.quotedDatabaseIdentifier) WHERE \(whereKey(table))",
                       arguments: StatementArguments(key))
    case let .setMeta(keyIndex, cell):
        let key = template.metaKeys[keyIndex % template.metaKeys.count]
        let current = try DatabaseValue.fetchOne(db, sql: "SELECT value FROM sync_meta WHERE key = ?", arguments: [key]) ?? .null
        let (value, arguments) = expression(cell, current: current, other: nil)
        try db.execute(sql: "UPDATE sync_meta SET value = \(value) WHERE key = ?", arguments: StatementArguments(arguments + [key.databaseValue]))
    case let .schema(kind, tableIndex, pick):
        let table = tables[tableIndex % tables.count].name.quotedDatabaseIdentifier
        switch kind % 7 {
        case 0:
            guard !template.indexes.isEmpty else { return }
            try db.execute(sql: "DROP INDEX IF EXISTS \(template.indexes[pick % template.indexes.count].quotedDatabaseIdentifier)")
        case 1: try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN fuzz_extra DEFAULT \(pick)")
        case 2:
            // The table swapped for a view of its rows (or of nothing).
            try db.execute(sql: "ALTER TABLE \(table) RENAME TO fuzz_moved")
            try db.execute(sql: pick % 2 == 0 ? "CREATE VIEW \(table) AS SELECT * FROM fuzz_moved" : "CREATE VIEW \(table) AS SELECT * FROM fuzz_moved WHERE 0")
        case 3:
            try db.execute(sql: "CREATE TRIGGER fuzz_trigger_\(pick) AFTER INSERT ON \(table) BEGIN DELETE FROM sync_meta; END")
        case 4: try db.execute(sql: "CREATE TABLE IF NOT EXISTS \"fuzz table \(pick)\"(x)")
        case 5: try db.execute(sql: "PRAGMA user_version = \(pick)")
        default: try db.execute(sql: "DROP TABLE \(table)")
        }
    case .overwrite:
        break
    }
}

func fuzzOne(_ input: [UInt8]) {
    let template = FuzzJoin.template ?? Template()
    // Kept for `atexit` (a C function cannot capture it).
    FuzzJoin.template = template
    template.inputs += 1
    let run = template.directory.appendingPathComponent("run")
    let snapshotPath = template.directory.appendingPathComponent("joining.syncsnap").path
    let joinerPath = run.appendingPathComponent("data.db").path
    // The joiner of the last input is used again when it refused its
    // snapshot (checked below to be as it was: same id, same digest);
    // after an adoption a fresh copy of the template's is opened.
    if template.joiner == nil {
        do {
            try? FileManager.default.removeItem(at: run)
            try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
            for (name, bytes) in template.joinerFiles { try Data(bytes).write(to: run.appendingPathComponent(name)) }
            template.joiner = try Store(path: joinerPath, options: deterministicOptions(seed: 4))
        } catch {
            fatalError("fuzz-join: cannot make the joiner: \(error)")
        }
    }
    do {
        try Data(template.snapshot).write(to: URL(fileURLWithPath: snapshotPath))
    } catch {
        fatalError("fuzz-join: cannot write the snapshot: \(error)")
    }
    let planned = edits(input)
    if verbose { print("edits: \(planned)") }
    apply(planned, to: snapshotPath, template: template)

    let joiner: Store = template.joiner!
    let before: (ReplicaID, StateDigest)
    do { before = (try joiner.replicaID, try joiner.digest()) } catch { fail("the joiner cannot be read before the join: \(error)", input) }
    let expected = template.peerReplica, seed = template.seed
    let adopted: Store.CheckedJoinAdoption
    do {
        try JoinSnapshotCheck.verifyHeader(path: snapshotPath, expectedReplica: expected, seed: seed)
        adopted = try joiner.adoptJoinSnapshot(at: snapshotPath, reason: { _ in "fuzz" }) {
            try JoinSnapshotCheck.verify(path: snapshotPath, expectedReplica: expected, seed: seed)
        }
    } catch let refusal as JoinSnapshotRefusal {
        template.refused += 1
        if verbose { print("refused: \(refusal)") }
        require(planned.count > 0, "the snapshot as taken was refused: \(refusal)", input)
        do {
            require(try joiner.replicaID == before.0, "a refused snapshot changed the joiner's replica id", input)
            require(try joiner.digest() == before.1, "a refused snapshot changed the joiner's digest", input)
        } catch {
            fail("the joiner cannot be read after a refused snapshot: \(error)", input)
        }
        // Nothing left behind: no copy kept aside, no staging file.
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: run.path)) ?? []).filter { !["data.db", "data.db-wal", "data.db-shm", "data.db.counter"].contains($0) }
        require(left.isEmpty, "a refused snapshot left \(left) beside the joiner", input)
        return
    } catch {
        // Only a refusal may stop a join: anything else is a file the check
        // passed that the copy could not take, or a joiner left unusable.
        template.joiner = nil
        fail("the join ended in an error that is not a refusal: \(error)", input)
    }
    if verbose { print("adopted: \(adopted.facts.records) records, \(adopted.facts.slots) slots, seq \(adopted.facts.highestSeq)") }
    template.adopted += 1
    template.joiner = nil
    joiner.checkpointAfterJoin()
    checkAdopted(joiner, adopted, previous: before.0, peer: expected, input: input)
    // What the joiner held is kept aside whole, to be merged back.
    require(keptDigest(adopted.adoption.keptAside) == before.1.buckets, "the database kept aside does not hold the joiner's state before the join", input)
    if verbose || template.inputs % 1_000 == 0 { print("fuzz-join: \(template.adopted) adopted, \(template.refused) refused of \(template.inputs) inputs") }
}

/// The digest a database file keeps (its buckets), read without opening it as a store.
func keptDigest(_ url: URL) -> [[UInt8]]? {
    guard let queue = try? DatabaseQueue(path: url.path) else { return nil }
    defer { try? queue.close() }
    return try? queue.read { db in
        var buckets = [[UInt8]](repeating: [UInt8](repeating: 0, count: 16), count: StateDigest.bucketCount)
        for row in try Row.fetchAll(db, sql: "SELECT bucket, digest FROM sync_buckets") {
            let index: Int = row[0]
            guard buckets.indices.contains(index), let bytes = row[1] as Data?, bytes.count == 16 else { return nil }
            buckets[index] = [UInt8](bytes)
        }
        return buckets
    }
}

/// What must hold of a store that adopted a snapshot.
func checkAdopted(_ store: Store, _ adopted: Store.CheckedJoinAdoption, previous: ReplicaID, peer: ReplicaID, input: [UInt8]) {
    do {
        let replica = try store.replicaID
        require(replica != previous && replica != peer, "the adopted store writes under an old id \(replica)", input)
        let digest = try store.digest()
        require(digest == adopted.facts.digest, "the adopted digest is not the one the check computed", input)
        if let problem = try StoreChecks.feedAndDigestProblem(store) { fail("adopted: \(problem)", input) }
        let drift = try store.viewDrift()
        require(drift.count == 0, "the adopted tables differ from the records: \(drift.drift.prefix(3))", input)
        let feed = try store.changes(since: 0, maxCount: 1_000_000, maxBytes: Int.max / 2)
        var records = Set<RecordRef>()
        for change in feed.changes { records.insert(RecordRef(collection: change.key.collection, id: change.key.record)) }
        for ref in records.sorted(by: { ($0.collection, $0.id) < ($1.collection, $1.id) }) {
            _ = try store.record(ref)
            _ = try store.history(ref)
        }
        _ = try store.conflicts()
        _ = try store.recentChanges(ChangeFilter(limit: 1_000))
        _ = try store.integrityReport()
    } catch {
        fail("the adopted store cannot be read: \(error)", input)
    }
}

@main
enum FuzzMain {
    static func main() { FuzzDriver.run(fuzzOne) }
}
