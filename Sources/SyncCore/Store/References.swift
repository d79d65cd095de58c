import Foundation
import GRDB

/// A record that points at another through a reference field or set member.
public struct Referrer: Hashable, Sendable {
    public let ref: RecordRef
    public let field: String
}

extension CollectionSchema {
    /// The field that names a record for people: `title`, else `name`, else none (the id).
    public var titleField: String? {
        field("title") != nil && field("title")?.type == .text ? "title" : (field("name")?.type == .text ? "name" : nil)
    }
}

extension Store {
    /// How many referrers `referrers(to:)` returns at most.
    public static let maxReferrers = 200

    /// Records whose reference fields or set members name `target` (existing
    /// records only; at most `maxReferrers`, by collection and id).
    public func referrers(to target: RecordRef) throws -> [Referrer] {
        let name = target.description
        return try pool.read { db in
            var found: [Referrer] = []
            for collection in schema.collections {
                for field in collection.fields where (field.type == .ref || (field.isSet && field.of == .ref))
                    && (field.targets ?? []).contains(target.collection) {
                    let column = field.name.quotedDatabaseIdentifier
                    let condition = field.isSet
                        ? "instr(\(column), ?) > 0 AND EXISTS (SELECT 1 FROM json_each(\(column)) WHERE value = ?)"
                        : "\(column) = ? AND ? IS NOT NULL"
                    let ids = try String.fetchAll(db, sql: """
                        SELECT id FROM \(collection.name.quotedDatabaseIdentifier) WHERE \(condition) ORDER BY id LIMIT \(Self.maxReferrers)
                        """, arguments: [field.isSet ? CollectionViews.jsonToken(name) : name, name])
                    found += ids.map { Referrer(ref: RecordRef(collection: collection.name, id: $0), field: field.name) }
                    if found.count >= Self.maxReferrers { return Array(found.prefix(Self.maxReferrers)) }
                }
            }
            return found
        }
    }

    /// The title (or name) of each record given, when it exists and has one.
    public func titles(of refs: [RecordRef]) throws -> [RecordRef: String] {
        try pool.read { db in
            var titles: [RecordRef: String] = [:]
            for ref in Set(refs) {
                guard let collection = schema.collection(ref.collection), let field = collection.titleField else { continue }
                if let title = try String.fetchOne(db, sql: "SELECT \(field.quotedDatabaseIdentifier) FROM \(collection.name.quotedDatabaseIdentifier) WHERE id = ?",
                                                   arguments: [ref.id]) {
                    titles[ref] = title
                }
            }
            return titles
        }
    }

    /// Ids (and titles) of records in `collection` whose id or title starts
    /// with `prefix` (reference completion; at most `limit`).
    public func complete(_ collectionName: String, prefix: String, limit: Int) throws -> [(id: String, title: String?)] {
        let collection = try schema.requireCollection(collectionName)
        let pattern = RecordPageSQL.escapeLike(prefix) + "%"
        let titleColumn = collection.titleField.map(\.quotedDatabaseIdentifier) ?? "NULL"
        let searchTitle = collection.titleField.map { "OR \($0.quotedDatabaseIdentifier) LIKE ? ESCAPE '\\' " } ?? ""
        return try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, \(titleColumn) FROM \(collection.name.quotedDatabaseIdentifier)
                WHERE id LIKE ? ESCAPE '\\' \(searchTitle)ORDER BY id LIMIT \(max(1, min(limit, 50)))
                """, arguments: StatementArguments(collection.titleField == nil ? [pattern] : [pattern, pattern])).map { ($0[0], $0[1]) }
        }
    }
}
