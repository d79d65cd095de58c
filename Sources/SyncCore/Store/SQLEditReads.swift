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
/// syncctl taking up parts of one queue. Only chains that change a read are
/// kept (`seen` other than `last` in some cell): for every other edit the
/// substitution is the identity, and nothing is written. Emptied once no
/// edit waits. Local to this replica like the queues: a join snapshot drops
/// it, a restore drops the file's.
///
/// A copied database is a file from anywhere: a row that does not decode,
/// has another width than the collection's row, or is larger than
/// `Store.sqlEditBatchBytes`, reads as no chain (the edit is planned
/// against what it read).
struct SQLEditReads {
    static let table = "sync_sql_reads"

    let db: Database
    /// Whether the table was there, and held any row, when the transaction
    /// started (read once: each record is taken up at most once per
    /// transaction).
    private let exists: Bool
    private let holdsAny: Bool
    private var reading: FastStatement?
    private var keeping: FastStatement?
    private var dropping: FastStatement?

    init(db: Database) throws {
        self.db = db
        exists = try db.holdsTable(Self.table, in: "main")
        holdsAny = try exists && Self.holdsAny(db)
    }

    /// Makes the table, before a take-up's transactions: never inside one,
    /// where a change of the schema would finalize the statements the
    /// writer holds.
    static func prepare(_ db: Database) throws {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS main.\(table)(collection TEXT NOT NULL, id BLOB NOT NULL, last BLOB NOT NULL, seen BLOB NOT NULL, PRIMARY KEY (collection, id)) WITHOUT ROWID")
    }

    /// Whether any chain is kept (cheap: one probe).
    static func holdsAny(_ db: Database) throws -> Bool {
        guard try db.holdsTable(table, in: "main") else { return false }
        return try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM main.\(table))") == true
    }

    /// The chain kept for `ref`, if any, of `width` cells each.
    mutating func chain(for ref: RecordRef, width: Int) throws -> (last: [SQLCell], seen: [SQLCell])? {
        guard holdsAny else { return nil }
        let statement = try FastStatement.prepared(&reading, db, """
            SELECT last, seen FROM main.\(Self.table) WHERE collection = ? AND id = ? AND length(last) + length(seen) <= \(Store.sqlEditBatchBytes)
            """)
        statement.bind(1, textBytes: Array(ref.collection.utf8))
        statement.bind(2, blob: Array(ref.id.utf8))
        defer { statement.reset() }
        guard try statement.step(), case .blob(let last) = SQLCell.read(statement.handle, 0), case .blob(let seen) = SQLCell.read(statement.handle, 1),
              let lastCells = Self.decode(last, width: width), let seenCells = Self.decode(seen, width: width) else { return nil }
        return (lastCells, seenCells)
    }

    /// Keeps the chain `ref`'s edit just taken up leaves (nil: none, as after
    /// a DELETE), or drops the one kept, when it changes no read.
    mutating func keep(_ chain: (last: [SQLCell], seen: [SQLCell])?, for ref: RecordRef) throws {
        // Compared as the bytes kept: equal bytes substitute nothing.
        let encoded = chain.map { (Self.encode($0.last), Self.encode($0.seen)) }
        guard let encoded, encoded.0 != encoded.1 else {
            guard holdsAny else { return }
            let statement = try FastStatement.prepared(&dropping, db, "DELETE FROM main.\(Self.table) WHERE collection = ? AND id = ?")
            statement.bind(1, textBytes: Array(ref.collection.utf8))
            statement.bind(2, blob: Array(ref.id.utf8))
            try statement.execute()
            return
        }
        // (A table a client dropped since the take-up began: the chain is
        // not kept, and the next edit is planned against what it read.)
        guard exists else { return }
        let statement = try FastStatement.prepared(&keeping, db, "INSERT OR REPLACE INTO main.\(Self.table)(collection, id, last, seen) VALUES (?, ?, ?, ?)")
        statement.bind(1, textBytes: Array(ref.collection.utf8))
        statement.bind(2, blob: Array(ref.id.utf8))
        statement.bind(3, blob: encoded.0)
        statement.bind(4, blob: encoded.1)
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

    /// Drops the table (a join snapshot's copy, a restored file's), or
    /// whatever a file holds under its name (a view, in any case).
    static func drop(_ db: Database) throws {
        for row in try Row.fetchAll(db, sql: "SELECT type, name FROM main.sqlite_master WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')", arguments: [table]) {
            let kind: String = row[0], name: String = row[1]
            try db.execute(sql: "DROP \(kind == "view" ? "VIEW" : "TABLE") main.\(name.quotedDatabaseIdentifier)")
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
