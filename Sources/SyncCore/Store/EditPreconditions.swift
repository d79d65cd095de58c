import Foundation
import GRDB

extension Store {
    /// A token per scalar field of a record (and `_exists`), naming its live
    /// versions by dot and content exactly as a conflict token does
    /// (`SlotConflict.token(for:)`). An editor that shows a record keeps
    /// these; an edit that carries them is refused if a version arrived or
    /// was superseded since (the web app's PATCH, docs/api.md).
    public func versionTokens(_ ref: RecordRef) throws -> [String: String] {
        try pool.read { db in
            var tokens: [String: String] = [:]
            for (name, slot) in try db.storedSlots(ref) where name.element.isEmpty {
                // Field names that differ only in Unicode normalization (a
                // peer's non-schema slots) keep the first; never trap.
                if tokens[name.field] == nil { tokens[name.field] = SlotConflict.token(for: slot.state.versions) }
            }
            return tokens
        }
    }

    /// The token of a field never written (no live versions).
    public static let unwrittenToken = SlotConflict.token(for: [])
}
