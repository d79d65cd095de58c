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

    public var isNull: Bool { self == .null }

    public var description: String {
        switch self {
        case .null: "null"
        case .bool(let flag): flag ? "true" : "false"
        case .int(let number): String(number)
        case .text(let text): text
        }
    }
}
