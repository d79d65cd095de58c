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

    /// The text split at every `separator` scalar (empty pieces kept).
    public static func split(_ text: String, at separator: Unicode.Scalar) -> [String] {
        text.unicodeScalars.split(separator: separator, omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
    }

    /// `text` with every `target` scalar replaced by `replacement`.
    public static func replacing(_ target: Unicode.Scalar, with replacement: String, in text: String) -> String {
        guard text.unicodeScalars.contains(target) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == target { out.append(contentsOf: replacement.unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }

    /// The longest prefix of whole scalars within `maxBytes` UTF-8 bytes.
    public static func prefix(_ text: String, maxBytes: Int) -> String {
        guard text.utf8.count > maxBytes else { return text }
        var out = String.UnicodeScalarView()
        var bytes = 0
        for scalar in text.unicodeScalars {
            bytes += String(scalar).utf8.count
            guard bytes <= maxBytes else { break }
            out.append(scalar)
        }
        return String(out)
    }

    /// Scalars trimmed from both ends while `isTrimmed` holds.
    public static func trimming(_ text: String, where isTrimmed: (Unicode.Scalar) -> Bool) -> String {
        let scalars = Array(text.unicodeScalars)
        guard let first = scalars.firstIndex(where: { !isTrimmed($0) }), let last = scalars.lastIndex(where: { !isTrimmed($0) }) else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
