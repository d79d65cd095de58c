import Foundation

/// Records as they travel in import and export files (CSV, JSON, JSONL).
/// The formats are described in docs/interchange.md.
public enum RecordFileFormat: String, CaseIterable, Sendable {
    case csv, json, jsonl

    /// Guesses from a file name's extension.
    public init?(path: String) {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "csv": self = .csv
        case "json": self = .json
        case "jsonl", "ndjson": self = .jsonl
        default: return nil
        }
    }
}

/// One record's cells in a file: the fields it gives (others are untouched).
public struct RecordRow: Sendable, Equatable {
    public enum Cell: Sendable, Equatable {
        case scalar(Value)
        case members([String])
    }

    public let ref: RecordRef
    public let cells: [String: Cell]
    /// Where it came from, for error messages ("line 4", "record 3").
    public let origin: String

    public init(ref: RecordRef, cells: [String: Cell], origin: String) {
        self.ref = ref
        self.cells = cells
        self.origin = origin
    }
}

/// A bad row: where, which record, what is wrong.
public struct RowError: Error, Sendable, Equatable, CustomStringConvertible {
    public let origin: String
    public let message: String
    public var description: String { "\(origin): \(message)" }
}

/// Every problem of a file; nothing is written when there is one.
public struct RecordFileErrors: Error, Sendable, CustomStringConvertible {
    public let errors: [RowError]
    public init(errors: [RowError]) {
        self.errors = errors.sorted { Self.order($0.origin) < Self.order($1.origin) }
    }

    /// "line 12" and "record 3" sort by their number; "header" and "file" first.
    static func order(_ origin: String) -> Int { Int(origin.split(separator: " ").last ?? "") ?? -1 }

    public var description: String {
        let shown = errors.prefix(100).map { "  \($0)" }.joined(separator: "\n")
        let more = errors.count > 100 ? "\n  … and \(errors.count - 100) more" : ""
        return "the file has \(errors.count) bad row(s); nothing was written:\n\(shown)\(more)"
    }
}

public enum RecordFile {
    /// Set members in a CSV cell are separated by this (spaces around are
    /// ignored; `\;`, `\\` and `\ ` escape; `SetCell`).
    public static let memberSeparator = String(SetCell.separator)

    /// Parses a file into rows checked against the schema; all errors at once.
    public static func parse(_ text: String, format: RecordFileFormat, collection: String?, schema: Schema) throws -> [RecordRow] {
        let (rows, errors) = try parseKeepingGoodRows(text, format: format, collection: collection, schema: schema)
        guard errors.isEmpty else { throw RecordFileErrors(errors: errors) }
        return rows
    }

    /// The rows that parse, and the errors of those that do not (so the
    /// store can add its own findings about the good rows to one report).
    /// Throws only when the file as a whole is unusable (bad header, not JSON).
    public static func parseKeepingGoodRows(_ text: String, format: RecordFileFormat, collection: String?, schema: Schema) throws -> (rows: [RecordRow], errors: [RowError]) {
        switch format {
        case .csv:
            guard let collection else { throw RecordFileErrors(errors: [RowError(origin: "file", message: "a CSV file holds one collection: give --collection")]) }
            return try parseCSV(text, collection: try schema.requireCollection(collection))
        case .json:
            let root: AnyJSON
            do { root = try JSONDecoder().decode(AnyJSON.self, from: Data(text.utf8)) } catch {
                throw RecordFileErrors(errors: [RowError(origin: "file", message: "not valid JSON: \(error)")])
            }
            guard case .array(let list) = root else { throw RecordFileErrors(errors: [RowError(origin: "file", message: "a JSON import file is an array of records")]) }
            return collect(list.enumerated().map { index, item in { try parseObject(item, origin: "record \(index + 1)", collection: collection, schema: schema) } })
        case .jsonl:
            // Split on the scalar U+000A, not the `Character` "\n": a CRLF line
            // ending is one `Character` "\r\n" that is not "\n" (the \r left on
            // a line is JSON whitespace).
            let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
                .enumerated().filter { !$0.element.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            return collect(lines.map { number, line in {
                let object: AnyJSON
                do { object = try JSONDecoder().decode(AnyJSON.self, from: Data(line.utf8)) } catch {
                    throw RowError(origin: "line \(number + 1)", message: "not valid JSON")
                }
                return try parseObject(object, origin: "line \(number + 1)", collection: collection, schema: schema)
            } })
        }
    }

    private static func collect(_ parsers: [() throws -> RecordRow]) -> (rows: [RecordRow], errors: [RowError]) {
        var rows: [RecordRow] = []
        var errors: [RowError] = []
        for parse in parsers {
            do { rows.append(try parse()) } catch let error as RowError { errors.append(error) } catch { errors.append(RowError(origin: "file", message: "\(error)")) }
        }
        var seen: [RecordRef: String] = [:]
        for row in rows {
            if let first = seen[row.ref] { errors.append(RowError(origin: row.origin, message: "\(row.ref) appears again (first at \(first))")) }
            seen[row.ref] = seen[row.ref] ?? row.origin
        }
        return (rows, errors)
    }

    static func parseCSV(_ text: String, collection: CollectionSchema) throws -> (rows: [RecordRow], errors: [RowError]) {
        let table: [(line: Int, fields: [String])]
        do { table = try CSV.parse(text) } catch { throw RecordFileErrors(errors: [RowError(origin: "line \(error.line)", message: error.message)]) }
        guard let header = table.first else { throw RecordFileErrors(errors: [RowError(origin: "file", message: "empty file: the first line names the columns (id, then fields)")]) }
        var headerErrors: [RowError] = []
        if header.fields.first != "id" {
            headerErrors.append(RowError(origin: "header", message: "the first column must be 'id' (found '\(header.fields.first ?? "")')"))
        }
        var columns: [FieldSchema] = []
        for name in header.fields.dropFirst() {
            do { columns.append(try collection.requireField(name)) } catch {
                headerErrors.append(RowError(origin: "header", message: "\(error)"))
            }
        }
        let duplicates = Dictionary(grouping: header.fields, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        for name in duplicates { headerErrors.append(RowError(origin: "header", message: "column '\(name)' appears twice")) }
        guard headerErrors.isEmpty else { throw RecordFileErrors(errors: headerErrors) }
        return collect(table.dropFirst().map { row in {
            let origin = "line \(row.line)"
            guard row.fields.count == header.fields.count else {
                throw RowError(origin: origin, message: "\(row.fields.count) fields, the header has \(header.fields.count)")
            }
            let ref = try recordRef(collection: collection.name, id: row.fields[0], origin: origin)
            var cells: [String: RecordRow.Cell] = [:]
            for (field, text) in zip(columns, row.fields.dropFirst()) {
                cells[field.name] = try cell(field, text: text, origin: "\(origin) (\(ref.id))")
            }
            return RecordRow(ref: ref, cells: cells, origin: origin)
        } })
    }

    static func recordRef(collection: String, id: String, origin: String) throws -> RecordRef {
        do { try RecordIDRule.check(id) } catch { throw RowError(origin: origin, message: "\(error)") }
        return RecordRef(collection: collection, id: id)
    }

    static func cell(_ field: FieldSchema, text: String, origin: String) throws -> RecordRow.Cell {
        do {
            if field.isSet {
                return .members(try SetCell.split(text).map { try field.validateMember($0) })
            }
            return .scalar(try field.parse(text))
        } catch {
            throw RowError(origin: origin, message: "\(error)")
        }
    }

    static func parseObject(_ item: AnyJSON, origin: String, collection given: String?, schema: Schema) throws -> RecordRow {
        guard case .object(let object) = item else { throw RowError(origin: origin, message: "each record is an object with id and fields") }
        let unknown = Set(object.keys).subtracting(["collection", "id", "fields"])
        if let key = unknown.sorted().first { throw RowError(origin: origin, message: "unknown key '\(key)' (a record has collection, id and fields)") }
        guard let name = object["collection"]?.string ?? given else {
            throw RowError(origin: origin, message: "no collection: give \"collection\" or --collection")
        }
        if let given, name != given { throw RowError(origin: origin, message: "record of collection '\(name)' in an import for '\(given)'") }
        let collection: CollectionSchema
        do { collection = try schema.requireCollection(name) } catch { throw RowError(origin: origin, message: "\(error)") }
        guard let id = object["id"]?.string else { throw RowError(origin: origin, message: "missing \"id\"") }
        let ref = try recordRef(collection: name, id: id, origin: origin)
        guard case .object(let fields) = object["fields"] ?? .object([:]) else {
            throw RowError(origin: origin, message: "\"fields\" must be an object of field names to values")
        }
        var cells: [String: RecordRow.Cell] = [:]
        for (name, raw) in fields.sorted(by: { $0.key < $1.key }) {
            let where_ = "\(origin) (\(ref.id))"
            let field: FieldSchema
            do { field = try collection.requireField(name) } catch { throw RowError(origin: where_, message: "\(error)") }
            if field.isSet {
                guard case .array(let items) = raw, case let members = items.compactMap(\.string), members.count == items.count else { throw RowError(origin: where_, message: "\(name) is a set: give an array of strings") }
                do { cells[name] = .members(try members.map { try field.validateMember($0) }) } catch { throw RowError(origin: where_, message: "\(error)") }
            } else {
                guard let value = raw.scalar else { throw RowError(origin: where_, message: "\(name) takes a single value, not an array or object") }
                do { cells[name] = .scalar(try field.validate(value)) } catch { throw RowError(origin: where_, message: "\(error)") }
            }
        }
        return RecordRow(ref: ref, cells: cells, origin: origin)
    }
}

/// Any JSON value, decoded strictly (true is not 1).
enum AnyJSON: Decodable {
    case null, bool(Bool), int(Int64), double(Double), string(String), array([AnyJSON]), object([String: AnyJSON])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([AnyJSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: AnyJSON].self)) }
    }

    var string: String? { if case .string(let text) = self { text } else { nil } }

    /// A field value; nil for arrays and objects.
    var scalar: Value? {
        switch self {
        case .null: .null
        case .bool(let flag): .bool(flag)
        case .int(let number): .int(number)
        case .double(let number): .text(String(number))
        case .string(let text): .text(text)
        case .array, .object: nil
        }
    }
}
