import Foundation
import GRDB
import GRDBSQLite

/// Binds and steps one of GRDB's cached statements through the SQLite C API.
///
/// Used only on the per-slot hot path (merge, history, views), where GRDB's
/// boxed `StatementArguments` cost more than SQLite itself. Values are bound
/// SQLITE_TRANSIENT (copied), so callers need not keep buffers alive.
struct FastStatement {
    let handle: OpaquePointer
    let db: Database

    init(_ db: Database, _ sql: String) throws {
        self.db = db
        handle = try db.cachedStatement(sql: sql).sqliteStatement
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// A statement that `owner` prepared and finalizes.
    init(_ owner: OwnedStatement) {
        db = owner.db
        handle = owner.handle
    }

    /// `statement`, prepared from `sql` on first use and kept there, so a
    /// writer looks its statements up once per transaction, not per row.
    static func prepared(_ statement: inout FastStatement?, _ db: Database, _ sql: String) throws -> FastStatement {
        if let statement { return statement }
        let new = try FastStatement(db, sql)
        statement = new
        return new
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func bind(_ index: Int32, _ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                _ = sqlite3_bind_text(handle, index, chars.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(chars.count), Self.transient)
            }
        }
    }

    /// Text given as bytes (kept as they are, valid UTF-8 or not).
    func bind(_ index: Int32, textBytes: [UInt8]) {
        textBytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                _ = sqlite3_bind_text(handle, index, chars.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(chars.count), Self.transient)
            }
        }
    }

    func bind(_ index: Int32, blob: [UInt8]) {
        blob.withUnsafeBytes { bind(index, blob: $0) }
    }

    func bind(_ index: Int32, blob raw: UnsafeRawBufferPointer) {
        _ = sqlite3_bind_blob(handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), Self.transient)
    }

    /// The column's bytes without copying them; valid until the next step or reset.
    func withBlob<Result>(_ column: Int32, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        let pointer = sqlite3_column_blob(handle, column)  // before _bytes, as SQLite asks
        let count = Int(sqlite3_column_bytes(handle, column))
        return body(UnsafeRawBufferPointer(start: count > 0 ? pointer : nil, count: count))
    }

    func bind(_ index: Int32, _ number: Int64) { sqlite3_bind_int64(handle, index, number) }

    func bindNull(_ index: Int32) { sqlite3_bind_null(handle, index) }

    func bind(_ index: Int32, _ value: Value) {
        switch value {
        case .null: bindNull(index)
        case .bool(let flag): bind(index, flag ? 1 : 0)
        case .int(let number): bind(index, number)
        case .text(let text): bind(index, text)
        }
    }

    /// Steps once: true when a row is available, false when done.
    func step() throws -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: String(cString: sqlite3_sql(handle)))
        }
    }

    /// Runs a statement that returns no rows, then resets it for the next use.
    func execute() throws {
        _ = try step()
        sqlite3_reset(handle)
    }

    func reset() { sqlite3_reset(handle) }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, column) else { return "" }
        return String(cString: pointer)
    }

    func blob(_ column: Int32) -> [UInt8] {
        withBlob(column) { [UInt8]($0) }
    }

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    func isText(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_TEXT }

    func isInteger(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_INTEGER }

    func isBlob(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_BLOB }

    /// Whether the column holds exactly what binding `value` to a column of
    /// the view's types (INTEGER or TEXT) stores: the same storage class and
    /// the same bytes. A false "different" only costs a write.
    func column(_ column: Int32, holds value: Value) -> Bool {
        switch value {
        case .null: return isNull(column)
        case .bool(let flag): return sqlite3_column_type(handle, column) == SQLITE_INTEGER && int(column) == (flag ? 1 : 0)
        case .int(let number): return sqlite3_column_type(handle, column) == SQLITE_INTEGER && int(column) == number
        case .text(let text): return self.column(column, holdsText: text)
        }
    }

    /// Whether the column holds exactly `cell`: the same storage class and
    /// the same value (a real by its bits, text and blobs by their bytes).
    func column(_ column: Int32, holds cell: SQLCell) -> Bool {
        switch cell {
        case .null: return isNull(column)
        case .integer(let number): return sqlite3_column_type(handle, column) == SQLITE_INTEGER && int(column) == number
        case .real(let number):
            return sqlite3_column_type(handle, column) == SQLITE_FLOAT && sqlite3_column_double(handle, column).bitPattern == number.bitPattern
        case .text(let bytes):
            return isText(column) && withText(column) { stored in
                stored.count == bytes.count && (bytes.isEmpty || bytes.withUnsafeBufferPointer { memcmp(stored.baseAddress!, $0.baseAddress!, bytes.count) == 0 })
            }
        case .blob(let bytes):
            guard sqlite3_column_type(handle, column) == SQLITE_BLOB else { return false }
            let count = Int(sqlite3_column_bytes(handle, column))
            guard count == bytes.count else { return false }
            guard count > 0, let pointer = sqlite3_column_blob(handle, column) else { return count == 0 }
            return bytes.withUnsafeBytes { memcmp($0.baseAddress!, pointer, count) == 0 }
        }
    }

    /// Binds `cell` as it is.
    func bind(_ index: Int32, _ cell: SQLCell) {
        switch cell {
        case .null: bindNull(index)
        case .integer(let number): bind(index, number)
        case .real(let number): sqlite3_bind_double(handle, index, number)
        case .text(let bytes): bind(index, textBytes: bytes)
        case .blob(let bytes): bind(index, blob: bytes)
        }
    }

    /// The column's bytes as text (a BLOB's bytes as they are), NUL included.
    func textBytes(_ column: Int32) -> [UInt8] {
        withText(column) { Array($0) }
    }

    /// The column's text when it is TEXT of valid UTF-8 without a NUL byte,
    /// taken from its bytes (GRDB reads text up to a NUL and mends invalid
    /// UTF-8); nil for another storage class or other bytes.
    func strictText(_ column: Int32) -> String? {
        guard isText(column) else { return nil }
        return withText(column) { stored -> String? in
            let text = String(decoding: stored, as: UTF8.self)
            guard UTF8Identity.bytes(stored, equal: text), stored.isEmpty || memchr(stored.baseAddress!, 0, stored.count) == nil else { return nil }
            return text
        }
    }

    /// Whether the column is TEXT with exactly these UTF-8 bytes.
    func column(_ column: Int32, holdsText text: String) -> Bool {
        isText(column) && withText(column) { stored in UTF8Identity.bytes(stored, equal: text) }
    }

    /// The column's text bytes, valid only inside `body`.
    private func withText<Result>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        let pointer = sqlite3_column_text(handle, column)  // before _bytes, as SQLite asks
        let count = Int(sqlite3_column_bytes(handle, column))
        return body(UnsafeBufferPointer(start: count > 0 ? pointer : nil, count: count))
    }
}

/// A statement prepared outside GRDB's statement cache, finalized with its
/// owner: for statements made per set of columns (`CollectionViews`), which
/// the cache would keep for the connection's lifetime. Use it only inside
/// the transaction that made it (on the writer's queue).
final class OwnedStatement {
    let db: Database
    let handle: OpaquePointer

    init(_ db: Database, _ sql: String) throws {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v2(db.sqliteConnection, sql, -1, &statement, nil)
        guard code == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
        }
        self.db = db
        handle = statement
    }

    deinit { sqlite3_finalize(handle) }
}
