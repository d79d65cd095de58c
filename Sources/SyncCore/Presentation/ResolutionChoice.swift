/// Turns a pick or a typed value into the value a resolution writes (shared
/// by `syncctl resolve` and the web app's conflicts inbox).
public enum ResolutionChoice {
    /// - Parameters:
    ///   - pick: a sibling's number, 1-based, as listed.
    ///   - typed: a new value; text is parsed as `syncctl set` parses it.
    public static func value(for conflict: SlotConflict, pick: Int?, typed: Value?, schema: CollectionSchema) throws -> Value {
        if let pick {
            // Compared before any arithmetic: a pick comes from a client.
            guard pick >= 1, pick <= conflict.siblings.count else {
                throw StoreError.invalidEdit("pick \(pick): choose 1 to \(conflict.siblings.count)")
            }
            return conflict.siblings[pick - 1].value
        }
        guard let typed else { throw StoreError.invalidEdit("give a sibling to pick or a value") }
        if conflict.key.field == SlotKey.existsField {
            switch typed {
            case .bool(let keep): return .bool(keep)
            case .text(let text) where ["keep", "true"].contains(text.lowercased()): return .bool(true)
            case .text(let text) where ["delete", "false"].contains(text.lowercased()): return .bool(false)
            default: throw StoreError.invalidEdit("for _exists give keep or delete")
            }
        }
        guard let field = schema.field(conflict.key.field) else {
            // A peer's field this schema does not know: no rule here says what a value of it may be.
            throw StoreError.invalidEdit("\(conflict.key.field) is not a field of this replica's schema (a peer wrote it): pick one of its \(conflict.siblings.count) versions")
        }
        if case .text(let text) = typed { return try field.parse(text) }
        return try field.validate(typed)
    }
}
