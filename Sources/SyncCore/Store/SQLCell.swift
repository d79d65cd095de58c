import GRDB
import GRDBSQLite

/// One value of a plain SQL table as SQLite holds it: its storage class and
/// its bytes (docs/sql.md).
///
/// Text is kept as bytes, never as a Swift `String`: a value written by
/// another SQLite client may be invalid UTF-8, or a spelling that Swift
/// would call equal to another (replication-model §2.4). Two cells are the
/// same exactly when class and bytes are.
public enum SQLCell: Hashable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text([UInt8])
    case blob([UInt8])

    /// The cell of `column` in the current row of a stepped statement.
    static func read(_ statement: OpaquePointer, _ column: Int32) -> SQLCell {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            let pointer = sqlite3_column_text(statement, column)
            let count = Int(sqlite3_column_bytes(statement, column))
            guard let pointer, count > 0 else { return .text([]) }
            return .text(Array(UnsafeBufferPointer(start: pointer, count: count)))
        case SQLITE_BLOB:
            let pointer = sqlite3_column_blob(statement, column)
            let count = Int(sqlite3_column_bytes(statement, column))
            guard let pointer, count > 0 else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: pointer, count: count)))
        default: return .null
        }
    }

    /// The cell a view table holds for a field's reading.
    init(_ value: Value) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .integer(flag ? 1 : 0)
        case .int(let number): self = .integer(number)
        case .text(let text): self = .text(Array(text.utf8))
        }
    }

    /// Bytes it holds (8 for a number), for memory limits.
    var byteCount: Int {
        switch self {
        case .null: 0
        case .integer, .real: 8
        case .text(let bytes), .blob(let bytes): bytes.count
        }
    }

    /// The text, when the cell is text in valid UTF-8.
    var utf8Text: String? {
        guard case .text(let bytes) = self else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// A short, printable rendering for messages and listings.
    public var display: String {
        switch self {
        case .null: return "NULL"
        case .integer(let number): return String(number)
        case .real(let number): return String(number)
        case .text(let bytes):
            let text = String(decoding: bytes, as: UTF8.self)
            return "'" + (text.count > 80 ? String(text.prefix(80)) + "…" : text) + "'"
        case .blob(let bytes): return "BLOB of \(bytes.count) bytes"
        }
    }
}
