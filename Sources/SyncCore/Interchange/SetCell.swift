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
/// differently. The escape is as narrow as it can be, so that hand-written
/// files and exports of earlier versions read as before (docs/interchange.md):
/// a run of backslashes is an escape only when it stands directly before a
/// `;` or a blank; there `2n` backslashes are `n` backslashes, and `2n + 1`
/// are `n` backslashes and the `;` or blank taken as part of the member.
/// Anywhere else (`C:\data`, `\\server\share`, a backslash closing the cell)
/// backslashes are kept as written.
public enum SetCell {
    public static let separator: Unicode.Scalar = ";"
    static let escape: Unicode.Scalar = "\\"

    /// Trimmed around unescaped members: tab, the Unicode space separators
    /// (general category Zs) and U+200B ZERO WIDTH SPACE — the scalars of
    /// Foundation's `CharacterSet.whitespaces` on Linux, which earlier
    /// versions trimmed with — as a fixed list, so that every platform and
    /// Unicode version reads a cell alike (docs/interchange.md).
    public static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: true
        default: false
        }
    }

    /// What a run of backslashes escapes when it stands before this scalar.
    static func escapable(_ scalar: Unicode.Scalar) -> Bool { scalar == separator || isBlank(scalar) }

    /// Where the run of backslashes starting at `index` ends.
    static func backslashRunEnd(_ scalars: [Unicode.Scalar], from index: Int) -> Int {
        scalars[index...].firstIndex { $0 != escape } ?? scalars.count
    }

    /// The cell's members, in order, empty ones left out.
    public static func split(_ cell: String) -> [String] {
        let scalars = Array(cell.unicodeScalars)
        var members: [String] = []
        var current: [Unicode.Scalar] = []
        // Scalars of `current` up to this count are kept (escaped or not blank at the end).
        var keptThrough = 0
        func finish() {
            var end = current.count
            while end > keptThrough, isBlank(current[end - 1]) { end -= 1 }
            if end > 0 { members.append(String(String.UnicodeScalarView(current[0..<end]))) }
            current = []
            keptThrough = 0
        }
        func append(_ scalar: Unicode.Scalar, kept: Bool) {
            current.append(scalar)
            if kept { keptThrough = current.count }
        }
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == escape {
                var end = backslashRunEnd(scalars, from: index)
                let run = end - index
                if end < scalars.count, escapable(scalars[end]) {
                    for _ in 0..<(run / 2) { append(escape, kept: true) }
                    if run % 2 == 1 {
                        append(scalars[end], kept: true)
                        end += 1
                    }
                } else {
                    for _ in 0..<run { append(escape, kept: true) }
                }
                index = end
            } else if scalar == separator {
                finish()
                index += 1
            } else if current.isEmpty, isBlank(scalar) {
                index += 1
            } else {
                append(scalar, kept: !isBlank(scalar))
                index += 1
            }
        }
        finish()
        return members
    }

    /// The members in one cell, separated by `; `, escaped so that `split`
    /// gives them back scalar for scalar.
    public static func join(_ members: [String]) -> String {
        members.enumerated().map { index, member in escaped(member, last: index == members.count - 1) }.joined(separator: "\(separator) ")
    }

    /// `member` escaped: `;` and the blanks that open or close it get one
    /// backslash; a run of backslashes that `split` would read as an escape
    /// (before a `;`, a blank, or, unless this is the last member, the
    /// separator that follows) is doubled.
    static func escaped(_ member: String, last: Bool) -> String {
        let scalars = Array(member.unicodeScalars)
        let firstKept = scalars.firstIndex { !isBlank($0) } ?? scalars.count
        let lastKept = scalars.lastIndex { !isBlank($0) } ?? -1
        var out = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == escape {
                let end = backslashRunEnd(scalars, from: index)
                let readAsEscape = end < scalars.count ? escapable(scalars[end]) : !last
                for _ in 0..<((end - index) * (readAsEscape ? 2 : 1)) { out.append(escape) }
                index = end
                continue
            }
            let edgeBlank = isBlank(scalar) && (index < firstKept || index > lastKept)
            if scalar == separator || edgeBlank { out.append(escape) }
            out.append(scalar)
            index += 1
        }
        return String(out)
    }
}
