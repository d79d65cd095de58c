/// Splitting text at ASCII syntax by Unicode scalars, never by `Character`.
///
/// A `Character` is a grapheme cluster: `=` followed by a combining mark is
/// one `Character` that is not `"="`, so `firstIndex(of: "=")` on a `String`
/// misses the `=` of `notes=\u{301}x` (docs/replication-model.md §2.4: text is
/// its bytes). Every parser of user or peer text that looks for ASCII syntax
/// goes through here or works on `utf8`.
public enum ScalarText {
    /// The text before and after the first `separator`, or nil if there is none.
    public static func splitOnce(_ text: String, at separator: Unicode.Scalar) -> (before: String, after: String)? {
        let scalars = text.unicodeScalars
        guard let index = scalars.firstIndex(of: separator) else { return nil }
        return (String(scalars[..<index]), String(scalars[scalars.index(after: index)...]))
    }
}
