import Foundation
import GRDB

extension Store {
    /// A token per scalar field of a record (and `_exists`), naming its live
    /// versions by dot and content exactly as a conflict token does
    /// (`SlotConflict.token(for:)`). An editor that shows a record keeps
    /// these; an edit that carries them is refused if a version arrived or
    /// was superseded since (the web app's PATCH, docs/api.md).
    public func versionTokens(_ ref: RecordRef) throws -> [String: String] {
        try pool.read { try Self.versionTokens(ref, schema: schema, in: $0) }
    }

    /// A record's view and its version tokens from one read transaction:
    /// what an editor shows and the tokens that name it, never a mix.
    public func recordForEditing(_ ref: RecordRef) throws -> (view: RecordView, tokens: [String: String])? {
        try pool.read { db in
            guard let view = try RecordView.load(ref, from: db) else { return nil }
            return (view, try Self.versionTokens(ref, schema: schema, in: db))
        }
    }

    /// Only `_exists` and the schema's fields, matched by their UTF-8 bytes:
    /// a peer's slot whose name differs from a field only in Unicode
    /// normalization is another slot, and must not stand in for the field
    /// (Swift's `String` keys would treat the two names as one).
    static func versionTokens(_ ref: RecordRef, schema: Schema, in db: Database) throws -> [String: String] {
        let names = [SlotKey.existsField] + (schema.collection(ref.collection)?.fields.map(\.name) ?? [])
        var tokens: [String: String] = [:]
        for (name, slot) in try db.storedSlots(ref) where name.element.isEmpty {
            guard let field = names.first(where: { Array($0.utf8) == Array(name.field.utf8) }) else { continue }
            tokens[field] = SlotConflict.token(for: slot.state.versions)
        }
        return tokens
    }

    /// Throws `fieldsChanged` naming each field whose live versions are no
    /// longer the ones its token names (inside the caller's transaction).
    static func checkTokens(_ expected: [String: String], of ref: RecordRef, schema: Schema, in db: Database) throws {
        let current = try versionTokens(ref, schema: schema, in: db)
        var changed: [String] = []
        for (field, token) in expected where Array((current[field] ?? unwrittenToken).utf8) != Array(token.utf8) {
            changed.append(field)
        }
        if !changed.isEmpty { throw StoreError.fieldsChanged(ref, fields: changed.sorted()) }
    }

    /// The token of a field never written (no live versions).
    public static let unwrittenToken = SlotConflict.token(for: [])
}
