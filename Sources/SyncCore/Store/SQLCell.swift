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

    /// Whether the two are the same class and bytes (a real by its bits:
    /// 0.0 and -0.0 differ here, though `==` calls them equal).
    func isIdentical(to other: SQLCell) -> Bool {
        switch (self, other) {
        case (.real(let one), .real(let two)): return one.bitPattern == two.bitPattern
        default: return self == other
        }
    }

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

    /// The cell a view table holds for a field's reading: decided here and
    /// bound as it is, so that SQLite converts nothing (its conversion of
    /// text to numbers differs between its versions and platforms, and the
    /// table is compared byte for byte on every replica). A value of the
    /// field's type is its plain cell. A value of another type (a listed
    /// schema problem) is the cell the column's affinity would make of it:
    /// in a TEXT column an integer or a boolean is its decimal text; in an
    /// INTEGER column text that is a number in SQLite's grammar
    /// (`number(inText:)`) is that number, other text stays text.
    init(_ value: Value, in field: FieldSchema) {
        let integerColumn = CollectionViews.columnType(field) == "INTEGER"
        switch value {
        case .null: self = .null
        case .bool(let flag): self = integerColumn ? .integer(flag ? 1 : 0) : .text(Array((flag ? "1" : "0").utf8))
        case .int(let number): self = integerColumn ? .integer(number) : .text(Array(String(number).utf8))
        case .text(let text):
            let bytes = Array(text.utf8)
            self = integerColumn ? Self.number(inText: bytes) ?? .text(bytes) : .text(bytes)
        }
    }

    /// `init(_:in:)` for a value the column does not keep as it is (one of
    /// another type than the field's); nil for the usual case, which the
    /// writer binds and compares straight from the `Value`.
    static func converted(_ value: Value, in field: FieldSchema) -> SQLCell? {
        let integerColumn = CollectionViews.columnType(field) == "INTEGER"
        switch value {
        case .null: return nil
        case .text: return integerColumn ? SQLCell(value, in: field) : nil
        case .int, .bool: return integerColumn ? nil : SQLCell(value, in: field)
        }
    }

    /// The number a column of INTEGER affinity keeps for `bytes`, or nil
    /// when SQLite keeps them as text: spaces (0x09–0x0D, 0x20) around an
    /// optional sign, digits with at most one decimal point (one digit at
    /// least) and an optional exponent (`e`, a sign, digits). An integer
    /// literal within Int64 is that integer; any other number is the
    /// correctly rounded double, an integer when it is whole and strictly
    /// between Int64's ends (as SQLite turns such a real into an integer), else a real.
    static func number(inText bytes: [UInt8]) -> SQLCell? {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }
        var start = 0, end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        var at = start
        if at < end, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
        var digits = 0
        while at < end, isDigit(bytes[at]) { at += 1; digits += 1 }
        var plainInteger = true
        if at < end, bytes[at] == UInt8(ascii: ".") {
            plainInteger = false
            at += 1
            while at < end, isDigit(bytes[at]) { at += 1; digits += 1 }
        }
        guard digits > 0 else { return nil }
        if at < end, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
            plainInteger = false
            at += 1
            if at < end, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
            var exponentDigits = 0
            while at < end, isDigit(bytes[at]) { at += 1; exponentDigits += 1 }
            guard exponentDigits > 0 else { return nil }
        }
        guard at == end else { return nil }
        let literal = String(decoding: bytes[start..<end], as: UTF8.self)
        if plainInteger, let integer = Int64(literal) { return .integer(integer) }
        guard let real = Double(literal) else { return nil }
        if real.isFinite, real.rounded(.towardZero) == real, real > -9_223_372_036_854_775_808.0, real < 9_223_372_036_854_775_808.0 {
            let integer = Int64(real)
            if integer > Int64.min, integer < Int64.max { return .integer(integer) }
        }
        return .real(real)
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
