/// The value a version holds for a slot.
///
/// Scalar fields hold text, integers or booleans (decimals and dates are held as
/// canonical text, checked by the schema); set members and `_exists` hold a
/// boolean; `null` clears a field.
public enum Value: Hashable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case text(String)

    public var isNull: Bool { if case .null = self { true } else { false } }

    /// Text compares by its UTF-8 bytes (replication-model §2.4).
    public static func == (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.text(let a), .text(let b)): UTF8Identity.equal(a, b)
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0 as UInt8)
        case .bool(let flag): hasher.combine(flag ? 2 as UInt8 : 1)
        case .int(let number): hasher.combine(3 as UInt8); hasher.combine(number)
        case .text(let text): hasher.combine(4 as UInt8); UTF8Identity.hash(text, into: &hasher)
        }
    }

    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let flag): flag ? "true" : "false"
        case .int(let number): String(number)
        case .text(let text): text
        }
    }
}
