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
    /// Bound as they are (`FastStatement.bind(_:_: SQLCell)`): the cursor's
    /// sort cell is the very cell the view held, of whatever storage class.
    public let arguments: [SQLCell]
    let selected: [FieldSchema]
    let sortField: FieldSchema?

    /// `cursor` is the decoded `query.after` with a cut sort value looked up
    /// (`Store.resolve`); when nil, `query.after` is decoded here as it is.
    public init(_ query: RecordPageQuery, schema: Schema, cursor resolved: PageCursor? = nil) throws {
        let collection = try Store.tableCollection(query.collection, in: schema)
        var clauses: [String] = []
        var arguments: [SQLCell] = []
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
                arguments.append(.text(Array(CollectionViews.jsonToken(checked).utf8)))
                arguments.append(.text(Array(checked.utf8)))
            } else if filter.value == .null {
                clauses.append("\(column) IS NULL")
            } else {
                clauses.append("\(column) = ?")
                arguments.append(SQLCell(try field.validate(filter.value), in: field))
            }
        }
        if let search = query.search, !search.isEmpty {
            guard search.utf8.count <= RecordPageQuery.maxSearchBytes else {
                throw StoreError.invalidEdit("the search text is longer than \(RecordPageQuery.maxSearchBytes) bytes: shorten it")
            }
            let pattern = "%" + Self.escapeLike(search) + "%"
            let columns = ["id"] + collection.fields.filter { $0.type == .text }.map(\.name)
            clauses.append("(" + columns.map { "\($0.quotedDatabaseIdentifier) LIKE ? ESCAPE '\\'" }.joined(separator: " OR ") + ")")
            arguments.append(contentsOf: Array(repeating: .text(Array(pattern.utf8)), count: columns.count))
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
        let sortExpression = sortField.map(Self.sortExpression)
        if let after = query.after {
            let cursor = try resolved ?? PageCursor.decode(after)
            if let sortExpression {
                // The row value compares the cursor's cell with SQLite's own
                // order (numbers, then text, then blobs), whatever class it is.
                clauses.append("(\(sortExpression), id) \(comparison) (?, ?)")
                arguments.append(cursor.sortCell ?? .text([]))
            } else {
                clauses.append("id \(comparison) ?")
            }
            arguments.append(.text(cursor.idBytes))
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

    /// The expression a page sorts by: the field's cell, null as ''.
    static func sortExpression(_ field: FieldSchema) -> String {
        "ifnull(\(field.name.quotedDatabaseIdentifier), '')"
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
                case .integer(let number): result += String(number)
                case .real(let number): result += String(number)
                case .text(let bytes): result += "CAST(X'" + Hex.encode(bytes) + "' AS TEXT)"
                case .blob(let bytes): result += "X'" + Hex.encode(bytes) + "'"
                }
            } else {
                result.append(character)
            }
        }
        return result
    }
}

extension Store {
    /// One page of records; `next` is set when more rows follow.
    public func page(_ query: RecordPageQuery) throws -> RecordPage {
        let collection = try tableCollection(query.collection)
        let limit = max(1, min(query.limit, RecordPageQuery.maxLimit))
        return try pool.read { db in
            var cursor: PageCursor?
            if let after = query.after {
                cursor = try Self.resolve(PageCursor.decode(after), query: query, collection: collection, db)
            }
            let statement = try RecordPageSQL(query, schema: schema, cursor: cursor)
            let fast = try FastStatement(db, statement.sql)
            defer { fast.reset() }
            for (index, argument) in statement.arguments.enumerated() { fast.bind(Int32(index + 1), argument) }
            let sortColumn = statement.sortField.flatMap { field in statement.selected.firstIndex { $0.name == field.name } }
            var records: [ListedRecord] = []
            var lastSort: SQLCell?
            var lastID: [UInt8] = []
            var next: String?
            while try fast.step() {
                guard records.count < limit else {
                    // One row more than the page: the cursor is the last row's.
                    next = PageCursor(sortCell: lastSort, id: lastID).encode()
                    break
                }
                // The id as bytes: the cursor must name the row as stored.
                lastID = fast.textBytes(0)
                var values: [String: Value] = [:]
                var members: [String: [String]] = [:]
                for (offset, field) in statement.selected.enumerated() {
                    let cell = SQLCell.read(fast.handle, Int32(offset + 2))
                    if field.isSet {
                        members[field.name] = CollectionViews.parseJSONArray(cell.utf8Text ?? "[]")
                    } else if let value = Self.value(cell, for: field) {
                        values[field.name] = value
                    }
                }
                if let sortColumn {
                    // As the sort expression reads it: null is ''.
                    let cell = SQLCell.read(fast.handle, Int32(sortColumn + 2))
                    lastSort = cell == .null ? .text([]) : cell
                }
                records.append(ListedRecord(ref: RecordRef(collection: query.collection, id: String(decoding: lastID, as: UTF8.self)), values: values,
                                            members: members, isConflicted: fast.int(1) != 0))
            }
            return RecordPage(records: records, next: next)
        }
    }
}

extension Store {
    /// `cursor` with a cut sort cell read again, by id, from the view as it
    /// is now (`PageCursor.resolved`).
    static func resolve(_ cursor: PageCursor, query: RecordPageQuery, collection: CollectionSchema, _ db: Database) throws -> PageCursor {
        guard cursor.isCut, let sort = query.sort, let field = collection.fields.first(where: { $0.name == sort }) else { return cursor }
        let lookup = try FastStatement(db, "SELECT \(RecordPageSQL.sortExpression(field)) FROM \(collection.name.quotedDatabaseIdentifier) WHERE id = ?")
        defer { lookup.reset() }
        lookup.bind(1, textBytes: cursor.idBytes)
        let current = try lookup.step() ? SQLCell.read(lookup.handle, 0) : nil
        return cursor.resolved(current: current, descending: query.descending)
    }
}
