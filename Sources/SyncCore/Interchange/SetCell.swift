import Foundation

/// The members of a set field in one CSV cell: `a; b; c`.
///
/// Everything here works on Unicode scalars, never on `Character`s: a
/// separator or a space followed by a combining mark is one `Character`
/// (`"; \u{742}"`), so splitting or trimming by `Character` kept the space in
/// a member that began with a mark, and importing an export changed it (found
/// by fuzz-import, docs/replication-model.md §2.4: bytes decide equality).
///
/// So that importing an export changes nothing whatever the members hold,
/// `join` escapes with a backslash what `split` would otherwise read
/// differently: `;`, `\`, and a space or tab that opens or closes a member.
/// `split` reads `\` followed by one of those as that scalar; a backslash
/// before anything else is kept as it is, so `C:\data` imports unchanged.
public enum SetCell {
    public static let separator: Unicode.Scalar = ";"
    static let escape: Unicode.Scalar = "\\"

    /// Whitespace trimmed around unescaped members (as `CharacterSet.whitespaces`).
    static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
        CharacterSet.whitespaces.contains(scalar)
    }

    /// The cell's members, in order, empty ones left out.
    public static func split(_ cell: String) -> [String] {
        var members: [String] = []
        var current = String.UnicodeScalarView()
        // Scalars of `current` up to this count were escaped (never trimmed at the end).
        var keptThrough = 0
        var leading = true
        var scalars = cell.unicodeScalars.makeIterator()
        func finish() {
            var end = current.count
            let array = Array(current)
            while end > keptThrough, isBlank(array[end - 1]) { end -= 1 }
            if end > 0 { members.append(String(String.UnicodeScalarView(array[0..<end]))) }
            current = String.UnicodeScalarView()
            keptThrough = 0
            leading = true
        }
        while let scalar = scalars.next() {
            if scalar == escape {
                guard let next = scalars.next() else { current.append(scalar); leading = false; keptThrough = current.count; break }
                if next == separator || next == escape || isBlank(next) {
                    current.append(next)
                } else {
                    current.append(scalar)
                    current.append(next)
                }
                leading = false
                keptThrough = current.count
            } else if scalar == separator {
                finish()
            } else if leading, isBlank(scalar) {
                continue
            } else {
                current.append(scalar)
                leading = false
            }
        }
        finish()
        return members
    }

    /// The members in one cell, separated by `; `, escaped so that `split`
    /// gives them back scalar for scalar.
    public static func join(_ members: [String]) -> String {
        members.map(escaped).joined(separator: "\(separator) ")
    }

    static func escaped(_ member: String) -> String {
        let scalars = Array(member.unicodeScalars)
        let firstKept = scalars.firstIndex { !isBlank($0) } ?? scalars.count
        let lastKept = scalars.lastIndex { !isBlank($0) } ?? -1
        var out = String.UnicodeScalarView()
        for (index, scalar) in scalars.enumerated() {
            let edgeBlank = isBlank(scalar) && (index < firstKept || index > lastKept)
            // A backslash needs escaping only where `split` would read it as one:
            // before a separator, a backslash or a blank, or at the end.
            let backslashRead = scalar == escape && (index + 1 == scalars.count || {
                let next = scalars[index + 1]
                return next == separator || next == escape || isBlank(next)
            }())
            if scalar == separator || edgeBlank || backslashRead { out.append(escape) }
            out.append(scalar)
        }
        return String(out)
    }
}
