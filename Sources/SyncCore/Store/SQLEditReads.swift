import Foundation
import GRDB

/// What the SQL edit of a record last taken up leaves for the record's next
/// one (`SQLEditPlanner.effectiveRead`, docs/sql.md): the row that edit
/// wrote (`last`) and what the replicated state reads as where it wrote
/// (`seen`). An edit made on top of it read `last`, not the state; compared
/// with `seen` instead, it is not refused as "changed since read" when the
/// first edit was refused or stored with other spelling.
///
/// Kept in the database (`sync_sql_reads`), written in the transaction that
/// takes the edit up, so the chain survives whatever stops a take-up
/// between two edits of one record: a full disk, a crash, syncd and
/// syncctl taking up parts of one queue.
///
/// - Only chains that change a read are kept (`seen` other than `last` in
///   some cell's class or bytes): for every other edit the substitution is
///   the identity, and nothing is written.
/// - A chain holds only for edits queued before the transaction that kept
///   it (`upto`, the edit counter then): that transaction rewrote the
///   table row from the state, so a later statement read the state.
/// - Emptied at the end of a take-up that finds no edit waiting; a
///   collection's chains go when its queue's columns change, all of them
///   when a join snapshot is adopted. Local like the queues: a join
///   snapshot carries none, a restore drops the file's.
/// - A copied database, or a client, may put anything under the name.
///   Before a take-up, what is not exactly this declaration (another
///   table, a view, an index under the name or on the table, a trigger) is
///   replaced; if it cannot be, or changes during the take-up, no chain is
///   read or kept. So with the edit counter not exactly one row. A row that does not
///   decode to exactly the collection's row width, or whose two blobs
///   exceed `Store.sqlEditBatchBytes` (32 MiB), reads as none: the edit is
///   planned against what it read.
struct SQLEditReads {
    static let table = "sync_sql_reads"

    /// As `sqlite_master` keeps it: anything else under the name is not ours.
    static let declaration = "CREATE TABLE sync_sql_reads(collection TEXT NOT NULL, id BLOB NOT NULL, kept_by INTEGER NOT NULL, upto INTEGER NOT NULL, last BLOB NOT NULL, seen BLOB NOT NULL, PRIMARY KEY (collection, id)) WITHOUT ROWID"

    let db: Database
    /// Whether the table was this one, and held any row, when the
    /// transaction started (read once: each record is taken up at most
    /// once per transaction).
    private let usable: Bool
    private let holdsAny: Bool
    /// The key of the chain `chain(for:edit:width:)` last found (the row
    /// `keep` replaces or removes), and the edit that kept it.
    private var found: (key: [UInt8], after: Int64)?
    private var reading: FastStatement?
    private var keeping: FastStatement?
    private var dropping: FastStatement?

    init(db: Database) throws {
        self.db = db
        // One counter row: with none or two, edit numbers say nothing of order.
        usable = try Self.isInPlace(db) && db.holdsTable(SQLEditQueue.counterTable, in: "main")
            && Int.fetchOne(db, sql: "SELECT count(*) FROM main.\(SQLEditQueue.counterTable)") == 1
        holdsAny = try usable && Self.holdsRows(db)
    }

    /// Whether the table, known to be in place, holds any row.
    private static func holdsRows(_ db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM main.\(table))") == true
    }

    /// Whether the only object under the name, or on the table, is this
    /// table as declared here (an index of a client's on it could refuse a
    /// chain's row, and with it the edit).
    static func isInPlace(_ db: Database) throws -> Bool {
        let rows = try Row.fetchAll(db, sql: "SELECT type, CAST(sql AS BLOB) FROM main.sqlite_master WHERE name = ? COLLATE NOCASE OR tbl_name = ? COLLATE NOCASE",
                                    arguments: [table, table])
        guard rows.count == 1, let kind = String.fromDatabaseValue(rows[0][0]), kind == "table",
              let sql = Data.fromDatabaseValue(rows[0][1]) else { return false }
        return sql.elementsEqual(declaration.utf8)
    }

    /// Makes the table, replacing whatever else a file or a client put
    /// under its name; before a take-up's transactions, never inside one,
    /// where a change of the schema would finalize the statements the
    /// writer holds.
    static func prepare(_ db: Database) throws {
        guard try !isInPlace(db) else { return }
        try removeAll(db)
        try db.execute(sql: declaration)
    }

    /// Whether any chain is kept (cheap: one probe).
    static func holdsAny(_ db: Database) throws -> Bool {
        try isInPlace(db) && holdsRows(db)
    }

    private static func key(_ ref: RecordRef) -> [UInt8] { Array(ref.collection.utf8) + [0] + Array(ref.id.utf8) }

    /// The chain kept for `ref` that holds for `edit`, if any, of `width`
    /// cells each: kept by an earlier edit (`kept_by`; a refused edit retried
    /// later keeps its number), and `edit` queued before that edit's
    /// take-up rewrote the row (`upto`).
    mutating func chain(for ref: RecordRef, edit: Int64, width: Int) throws -> (last: [SQLCell], seen: [SQLCell])? {
        found = nil
        guard holdsAny else { return nil }
        let statement = try FastStatement.prepared(&reading, db, """
            SELECT kept_by, upto, last, seen, length(last) + length(seen) <= \(Store.sqlEditBatchBytes) FROM main.\(Self.table) WHERE collection = ? AND id = ?
            """)
        statement.bind(1, textBytes: Array(ref.collection.utf8))
        statement.bind(2, blob: Array(ref.id.utf8))
        defer { statement.reset() }
        guard try statement.step(), case .integer(let after) = SQLCell.read(statement.handle, 0) else { return nil }
        found = (Self.key(ref), after)
        guard after < edit, case .integer(let upto) = SQLCell.read(statement.handle, 1), edit <= upto, case .integer(1) = SQLCell.read(statement.handle, 4),
              case .blob(let last) = SQLCell.read(statement.handle, 2), case .blob(let seen) = SQLCell.read(statement.handle, 3),
              let lastCells = Self.decode(last, width: width), let seenCells = Self.decode(seen, width: width) else { return nil }
        return (lastCells, seenCells)
    }

    /// Keeps the chain `ref`'s edit (numbered `edit`) just taken up leaves
    /// (nil: none, as after a DELETE), or drops the one `chain` found, when
    /// it changes no read. One a later edit kept stays (this one was
    /// retried after it).
    mutating func keep(_ chain: (last: [SQLCell], seen: [SQLCell])?, for ref: RecordRef, edit: Int64) throws {
        guard usable else { return }
        if let found, found.key == Self.key(ref), found.after > edit { return }
        guard let chain, chain.last.count == chain.seen.count,
              !zip(chain.last, chain.seen).allSatisfy({ $0.isIdentical(to: $1) }) else {
            guard let found, found.key == Self.key(ref) else { return }
            let statement = try FastStatement.prepared(&dropping, db, "DELETE FROM main.\(Self.table) WHERE collection = ? AND id = ?")
            statement.bind(1, textBytes: Array(ref.collection.utf8))
            statement.bind(2, blob: Array(ref.id.utf8))
            try statement.execute()
            return
        }
        // The counter as this transaction sees it: no statement of a client
        // runs meanwhile (the write lock), so every edit made after this
        // transaction's rewrite of the row is numbered above it.
        let statement = try FastStatement.prepared(&keeping, db, """
            INSERT OR REPLACE INTO main.\(Self.table)(collection, id, kept_by, upto, last, seen)
            VALUES (?, ?, ?, coalesce((SELECT n FROM main.\(SQLEditQueue.counterTable)), 0), ?, ?)
            """)
        statement.bind(1, textBytes: Array(ref.collection.utf8))
        statement.bind(2, blob: Array(ref.id.utf8))
        statement.bind(3, edit)
        statement.bind(4, blob: Self.encode(chain.last))
        statement.bind(5, blob: Self.encode(chain.seen))
        try statement.execute()
    }

    /// Drops every chain when no edit waits in any queue (checked in the
    /// caller's write transaction: an edit queued and partly taken up by
    /// another process meanwhile keeps its chain).
    static func clearIfNoneWaits(_ db: Database) throws {
        guard try holdsAny(db) else { return }
        for queue in try SQLEditQueue.queueTables(in: db) {
            if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM main.\(queue.quotedDatabaseIdentifier) WHERE reason IS NULL)") == true { return }
        }
        try db.execute(sql: "DELETE FROM main.\(table)")
    }

    /// Forgets the chains of `collection` (every collection: nil), as when
    /// its queue's columns change (a chain's cells are by position) or the
    /// state is replaced (a join's adoption). No change of the schema.
    static func forget(collection: String?, in db: Database) throws {
        guard try holdsAny(db) else { return }
        if let collection {
            try db.execute(sql: "DELETE FROM main.\(table) WHERE collection = ?", arguments: [collection])
        } else {
            try db.execute(sql: "DELETE FROM main.\(table)")
        }
    }

    /// Drops whatever is under the name or on the table (a join snapshot's
    /// copy, a restored file's). `IF EXISTS`: dropping a table or view drops
    /// its indexes and triggers with it.
    static func removeAll(_ db: Database) throws {
        let rows = try Row.fetchAll(db, sql: "SELECT type, name FROM main.sqlite_master WHERE name = ? COLLATE NOCASE OR tbl_name = ? COLLATE NOCASE ORDER BY type IN ('table', 'view')",
                                    arguments: [table, table])
        for row in rows {
            let kind: String = row[0], name: String = row[1]
            let statement = ["table": "TABLE", "view": "VIEW", "index": "INDEX", "trigger": "TRIGGER"][kind]
            guard let statement else { continue }
            try db.execute(sql: "DROP \(statement) IF EXISTS main.\(name.quotedDatabaseIdentifier)")
        }
    }

    /// Cells as bytes: per cell a tag (0 null, 1 integer, 2 real, 3 text,
    /// 4 blob) and its value (a zig-zag varint, the double's 8 bits, or a
    /// length-prefixed byte string).
    static func encode(_ cells: [SQLCell]) -> [UInt8] {
        var writer = BinaryWriter()
        for cell in cells {
            switch cell {
            case .null: writer.writeByte(0)
            case .integer(let number):
                writer.writeByte(1)
                writer.writeSignedVarint(number)
            case .real(let number):
                writer.writeByte(2)
                writer.writeFixed64(number.bitPattern)
            case .text(let bytes):
                writer.writeByte(3)
                writer.writeBlob(bytes)
            case .blob(let bytes):
                writer.writeByte(4)
                writer.writeBlob(bytes)
            }
        }
        return writer.bytes
    }

    /// `encode`'s cells, or nil unless the bytes are exactly `width` cells.
    static func decode(_ bytes: [UInt8], width: Int) -> [SQLCell]? {
        var reader = BinaryReader(bytes)
        var cells: [SQLCell] = []
        do {
            while !reader.isAtEnd {
                guard cells.count < width else { return nil }
                switch try reader.readByte() {
                case 0: cells.append(.null)
                case 1: cells.append(.integer(try reader.readSignedVarint()))
                case 2: cells.append(.real(Double(bitPattern: try reader.readFixed64())))
                case 3: cells.append(.text(try reader.readBlob()))
                case 4: cells.append(.blob(try reader.readBlob()))
                default: return nil
                }
            }
        } catch {
            return nil
        }
        return cells.count == width ? cells : nil
    }
}
