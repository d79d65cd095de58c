/// RFC 4180 CSV: fields separated by commas, quoted with `"` when they hold a
/// comma, quote or line break, quotes doubled inside quotes; CRLF or LF.
public enum CSV {
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// The rows of `text`, each with the line it starts on. A trailing line
    /// break does not make an empty row.
    public static func parse(_ text: String) throws(ParseError) -> [(line: Int, fields: [String])] {
        var rows: [(line: Int, fields: [String])] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var afterQuote = false
        var line = 1
        var rowLine = 1
        var characters = Array(text.unicodeScalars)[...]
        if characters.first == "\u{FEFF}" { characters = characters.dropFirst() }
        var index = characters.startIndex
        func endRow() {
            fields.append(field)
            rows.append((rowLine, fields))
            fields = []
            field = ""
            afterQuote = false
        }
        while index < characters.endIndex {
            let c = characters[index]
            index += 1
            if quoted {
                if c == "\"" {
                    if index < characters.endIndex, characters[index] == "\"" {
                        field.unicodeScalars.append("\"")
                        index += 1
                    } else {
                        quoted = false
                        afterQuote = true
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case ",":
                fields.append(field)
                field = ""
                afterQuote = false
            case "\r":
                if index < characters.endIndex, characters[index] == "\n" { index += 1 }
                endRow()
                line += 1
                rowLine = line
            case "\n":
                endRow()
                line += 1
                rowLine = line
            case "\"":
                guard field.isEmpty, !afterQuote else { throw ParseError(line: line, message: "a quote inside an unquoted field: quote the whole field and double the inner quotes") }
                quoted = true
            default:
                guard !afterQuote else { throw ParseError(line: line, message: "text after a closing quote") }
                field.unicodeScalars.append(c)
            }
        }
        if quoted { throw ParseError(line: rowLine, message: "a quoted field is never closed") }
        if !field.isEmpty || !fields.isEmpty || afterQuote { endRow() }
        return rows
    }

    /// One CSV line (without the line break). Decided on Unicode scalars, not
    /// on `Character`s: a comma, quote or line break followed by a combining
    /// mark (`",\u{301}"`), or a CRLF inside a field, is one `Character`
    /// that equals none of them, yet `parse` reads its scalars one by one.
    public static func line(_ fields: [String]) -> String {
        fields.map { field in
            let scalars = field.unicodeScalars
            let special = scalars.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
            guard special || scalars.first == " " || scalars.last == " " else { return field }
            var quoted = String.UnicodeScalarView()
            quoted.append("\"")
            for scalar in scalars {
                if scalar == "\"" { quoted.append("\"") }
                quoted.append(scalar)
            }
            quoted.append("\"")
            return String(quoted)
        }.joined(separator: ",")
    }
}
