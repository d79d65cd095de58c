/// A write or a schema file that does not fit the schema; each message names
/// the thing and the fix.
public enum SchemaError: Error, Equatable, CustomStringConvertible {
    case unreadableSchema(path: String, reason: String)
    case invalidSchema(path: String, reason: String)
    case unknownCollection(String, suggestion: String?, known: [String])
    case unknownField(collection: String, field: String, suggestion: String?, known: [String])
    case invalidValue(field: String, value: String, expected: String)
    case notInEnum(field: String, value: String, allowed: [String])
    case notASet(field: String)
    case isASet(field: String)
    case missingRequired(record: String, fields: [String])
    case invalidRecordID(String)
    /// A schema change that is not additive (removing, retyping, narrowing), with what to do instead.
    case refusedChange(String)
    /// A field whose definition is here but withheld (in conflict, or one
    /// this build cannot use): its values wait until that is settled.
    case withheldField(field: String, definition: String)

    public var description: String {
        switch self {
        case .unreadableSchema(let path, let reason):
            return "cannot read schema file \(path): \(reason)"
        case .invalidSchema(let path, let reason):
            return "schema \(path) is invalid: \(reason)"
        case .unknownCollection(let name, let suggestion, let known):
            let hint = suggestion.map { " Did you mean '\($0)'?" } ?? ""
            return "unknown collection '\(name)'.\(hint) Collections: \(known.joined(separator: ", "))."
        case .unknownField(let collection, let field, let suggestion, let known):
            let hint = suggestion.map { " Did you mean '\($0)'?" } ?? ""
            return "collection '\(collection)' has no field '\(field)'.\(hint) Fields: \(known.joined(separator: ", "))."
        case .refusedChange(let reason):
            return "schema change refused: \(reason)"
        case .withheldField(let field, let definition):
            return "field '\(field)' is withheld here: its definition \(definition) is in conflict or cannot be used. Settle that first (`syncctl conflicts \(definition)`; `syncctl status` says why a definition is withheld), then this conflict."
        case .invalidValue(let field, let value, let expected):
            return "field '\(field)': '\(value)' is not \(expected)."
        case .notInEnum(let field, let value, let allowed):
            return "field '\(field)': '\(value)' is not an allowed value. Allowed: \(allowed.joined(separator: ", "))."
        case .notASet(let field):
            return "field '\(field)' is not a set: use FIELD=VALUE, not += or -=."
        case .isASet(let field):
            return "field '\(field)' is a set: add members with \(field)+=MEMBER and remove them with \(field)-=MEMBER."
        case .missingRequired(let record, let fields):
            return "\(record) needs \(fields.map { "'\($0)'" }.joined(separator: ", ")): give \(fields.map { "\($0)=…" }.joined(separator: " "))."
        case .invalidRecordID(let id):
            return "record id '\(id)' is not valid: use 1–128 characters of letters, digits, '-', '_' or '.', not starting with '.' or '_'."
        }
    }
}

/// The name in `candidates` closest to `name` by edit distance, if close enough to be a likely typo.
func closestName(to name: String, among candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(name.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    let limit = max(2, name.count / 3)
    if best.1 <= limit { return best.0 }
    return candidates.first { $0.hasPrefix(name) || name.hasPrefix($0) }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
