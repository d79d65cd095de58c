import Foundation
import GRDB

/// One page of a collection's records, read from its view table with a filter,
/// a text search, a sort and a keyset cursor (the web API's table; docs/api.md).
public struct RecordPageQuery: Sendable, Equatable {
    public var collection: String
    /// Field equal to a value (a set field: has the member); all must match.
    public var filters: [(field: String, value: Value)]
    /// Case-insensitive (ASCII) substring of any text field, or of the id.
    public var search: String?
    /// The field to sort by (`id` when nil); ties are broken by id.
    public var sort: String?
    public var descending: Bool
    public var conflictedOnly: Bool
    /// The opaque cursor of the previous page's `next`.
    public var after: String?
    public var limit: Int

    /// The most a page may hold, whatever `limit` asks.
    public static let maxLimit = 500
    /// The longest search text accepted.
    public static let maxSearchBytes = 256

    public init(collection: String, filters: [(field: String, value: Value)] = [], search: String? = nil, sort: String? = nil,
                descending: Bool = false, conflictedOnly: Bool = false, after: String? = nil, limit: Int = 50) {
        self.collection = collection
        self.filters = filters
        self.search = search
        self.sort = sort
        self.descending = descending
        self.conflictedOnly = conflictedOnly
        self.after = after
        self.limit = limit
    }

    public static func == (lhs: RecordPageQuery, rhs: RecordPageQuery) -> Bool {
        lhs.collection == rhs.collection && lhs.filters.map(\.field) == rhs.filters.map(\.field)
            && lhs.filters.map(\.value) == rhs.filters.map(\.value) && lhs.search == rhs.search && lhs.sort == rhs.sort
            && lhs.descending == rhs.descending && lhs.conflictedOnly == rhs.conflictedOnly && lhs.after == rhs.after && lhs.limit == rhs.limit
    }
}

public struct RecordPage: Sendable {
    public let records: [ListedRecord]
    /// The cursor of the next page; nil on the last page.
    public let next: String?
}

/// The SQL of a page query, built without a database so tests and the
/// benchmark can run the very same statement in `sqlite3`.
public struct RecordPageSQL: Sendable {
    public let sql: String
    public let arguments: [Value]
    let selected: [FieldSchema]
    let sortField: FieldSchema?

    public init(_ query: RecordPageQuery, schema: Schema) throws {
        let collection = try Store.tableCollection(query.collection, in: schema)
        var clauses: [String] = []
        var arguments: [Value] = []
        for filter in query.filters {
            let field = try collection.requireField(filter.field)
            let column = field.name.quotedDatabaseIdentifier
            if field.isSet, filter.value == .null {
                clauses.append(CollectionViews.emptySetClause(column))
            } else if field.isSet {
                guard case .text(let member) = filter.value else { throw StoreError.invalidEdit("filter on \(field.name): give a member") }
                // instr() first, on the member as the view column spells it
                // (JSON-escaped, quoted): a cheap test that skips json_each on
                // most rows and never skips a row that has the member.
                clauses.append("(instr(\(column), ?) > 0 AND EXISTS (SELECT 1 FROM json_each(\(column)) WHERE value = ?))")
                let checked = try field.validateMember(member)
                arguments.append(.text(CollectionViews.jsonToken(checked)))
                arguments.append(.text(checked))
            } else if filter.value == .null {
                clauses.append("\(column) IS NULL")
            } else {
                clauses.append("\(column) = ?")
                arguments.append(try field.validate(filter.value))
            }
        }
        if let search = query.search, !search.isEmpty {
            guard search.utf8.count <= RecordPageQuery.maxSearchBytes else {
                throw StoreError.invalidEdit("the search text is longer than \(RecordPageQuery.maxSearchBytes) bytes: shorten it")
            }
            let pattern = "%" + Self.escapeLike(search) + "%"
            let columns = ["id"] + collection.fields.filter { $0.type == .text }.map(\.name)
            clauses.append("(" + columns.map { "\($0.quotedDatabaseIdentifier) LIKE ? ESCAPE '\\'" }.joined(separator: " OR ") + ")")
            arguments.append(contentsOf: Array(repeating: .text(pattern), count: columns.count))
        }
        if query.conflictedOnly { clauses.append("conflicted = 1") }
        let sortField: FieldSchema?
        if let sort = query.sort, sort != "id" {
            let field = try collection.requireField(sort)
            guard !field.isSet else { throw StoreError.invalidEdit("cannot sort by \(sort): it is a set") }
            sortField = field
        } else {
            sortField = nil
        }
        let direction = query.descending ? "DESC" : "ASC"
        let comparison = query.descending ? "<" : ">"
        // Nulls sort as the empty string, so the keyset comparison stays total.
        let sortExpression = sortField.map { "ifnull(\($0.name.quotedDatabaseIdentifier), '')" }
        if let after = query.after {
            let cursor = try PageCursor.decode(after)
            if let sortExpression {
                clauses.append("(\(sortExpression), id) \(comparison) (?, ?)")
                arguments.append(cursor.sortValue ?? .text(""))
            } else {
                clauses.append("id \(comparison) ?")
            }
            arguments.append(.text(cursor.id))
        }
        let limit = max(1, min(query.limit, RecordPageQuery.maxLimit))
        let whereClause = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
        let order = (sortExpression.map { "\($0) \(direction), " } ?? "") + "id \(direction)"
        let columns = (["id", "conflicted"] + collection.fields.map(\.name)).map(\.quotedDatabaseIdentifier).joined(separator: ", ")
        sql = "SELECT \(columns) FROM \(collection.name.quotedDatabaseIdentifier)\(whereClause) ORDER BY \(order) LIMIT \(limit + 1)"
        self.arguments = arguments
        selected = collection.fields
        self.sortField = sortField
    }

    static func escapeLike(_ text: String) -> String {
        // By scalar: "%" followed by a combining mark is one `Character` (ScalarText).
        var escaped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar == "%" || scalar == "_" || scalar == "\\" { escaped.append("\\") }
            escaped.append(scalar)
        }
        return String(escaped)
    }

    /// The statement with its arguments inlined as SQL literals (for `sqlite3`).
    public var literalSQL: String {
        var result = ""
        var remaining = arguments[...]
        var inString = false
        for character in sql {
            if character == "'" { inString.toggle() }
            if character == "?", !inString, let value = remaining.popFirst() {
                switch value {
                case .null: result += "NULL"
                case .bool(let flag): result += flag ? "1" : "0"
                case .int(let number): result += String(number)
                case .text(let text): result += "'" + ScalarText.replacing("'", with: "''", in: text) + "'"
                }
            } else {
                result.append(character)
            }
        }
        return result
    }
}

/// The position after the last row of a page: its sort value and id, as
/// base64url of a small JSON array. Opaque to clients; checked when read back.
public struct PageCursor: Equatable, Sendable {
    public let sortValue: Value?
    public let id: String

    /// The longest cursor accepted (a cursor comes from a client).
    public static let maxBytes = 2_048

    public func encode() -> String {
        let parts: [JSONValue] = [JSONValue(sortValue ?? .null), JSONValue(.text(id))]
        let data = (try? JSONEncoder().encode(parts)) ?? Data()
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: String) throws -> PageCursor {
        let invalid = StoreError.invalidEdit("the page cursor is not one this server made: start again from the first page")
        guard text.utf8.count <= maxBytes else { throw invalid }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let parts = try? JSONDecoder().decode([JSONValue].self, from: data),
              parts.count == 2, case .text(let id) = parts[1].value else { throw invalid }
        return PageCursor(sortValue: parts[0].value == .null ? nil : parts[0].value, id: id)
    }
}

extension Store {
    /// One page of records; `next` is set when more rows follow.
    public func page(_ query: RecordPageQuery) throws -> RecordPage {
        let statement = try RecordPageSQL(query, schema: schema)
        let limit = max(1, min(query.limit, RecordPageQuery.maxLimit))
        return try pool.read { db in
            let arguments = StatementArguments(statement.arguments.map { CollectionViews.databaseValue($0) })
            let rows = try Row.fetchAll(db, sql: statement.sql, arguments: arguments)
            var records: [ListedRecord] = []
            for row in rows.prefix(limit) {
                var values: [String: Value] = [:]
                var members: [String: [String]] = [:]
                for (offset, field) in statement.selected.enumerated() {
                    let dbValue: DatabaseValue = row[offset + 2]
                    if field.isSet {
                        members[field.name] = CollectionViews.parseJSONArray(String.fromDatabaseValue(dbValue) ?? "[]")
                    } else if let value = Self.value(dbValue, for: field) {
                        values[field.name] = value
                    }
                }
                records.append(ListedRecord(ref: RecordRef(collection: query.collection, id: row[0]), values: values,
                                            members: members, isConflicted: row[1]))
            }
            var next: String?
            if rows.count > limit, let last = records.last {
                let sortValue = statement.sortField.map { last.values[$0.name] ?? .text("") }
                next = PageCursor(sortValue: sortValue, id: last.ref.id).encode()
            }
            return RecordPage(records: records, next: next)
        }
    }
}
