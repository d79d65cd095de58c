import Crypto
import Foundation

/// A dataset schema: collections and their typed fields, loaded from JSON.
///
/// The daemon is generic over it (replication-model §8). Its hash travels in the handshake
/// so peers can tell when they run different schemas. The file format is
/// described in `docs/schema.md`.
public struct Schema: Codable, Hashable, Sendable {
    public let name: String
    public let version: Int
    public let collections: [CollectionSchema]
    /// Collection index by name (its UTF-8 bytes: a name a peer sends is
    /// never taken for another that only compares equal as text); lookups
    /// run once per received slot.
    private let collectionIndex: [UTF8Key: Int]
    /// SHA-256 (hex) of the schema's canonical JSON (sorted keys): equal
    /// schemas, equal hashes. Computed once; every store open compares it.
    public let hash: String

    private enum CodingKeys: String, CodingKey { case name, version, collections }

    public init(name: String, version: Int, collections: [CollectionSchema]) {
        self.name = name
        self.version = version
        self.collections = collections
        collectionIndex = Dictionary(collections.enumerated().map { (UTF8Key($0.element.name), $0.offset) }, uniquingKeysWith: { first, _ in first })
        hash = Self.canonicalHash(Canonical(name: name, version: version, collections: collections))
    }

    /// What the hash covers: the coded properties, nothing derived.
    private struct Canonical: Encodable {
        let name: String
        let version: Int
        let collections: [CollectionSchema]
    }

    private static func canonicalHash(_ canonical: Canonical) -> String {
        let bytes = CanonicalSchemaJSON.encode(name: canonical.name, version: canonical.version, collections: canonical.collections)
            ?? canonicalJSONByEncoder(canonical)
        return Hex.encode(SHA256.hash(data: bytes))
    }

    /// The canonical JSON as `JSONEncoder` writes it, for strings that
    /// `CanonicalSchemaJSON` leaves to it; also what tests compare it with.
    static func canonicalJSONByEncoder(name: String, version: Int, collections: [CollectionSchema]) -> [UInt8] {
        canonicalJSONByEncoder(Canonical(name: name, version: version, collections: collections))
    }

    private static func canonicalJSONByEncoder(_ canonical: Canonical) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return [UInt8]((try? encoder.encode(canonical)) ?? Data())
    }


    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name), version: try container.decode(Int.self, forKey: .version),
                  collections: try container.decode([CollectionSchema].self, forKey: .collections))
    }

    /// The collections that have an SQL table: all but the reserved ones
    /// (`_schema`, replicated schema additions, has none).
    public var tableCollections: [CollectionSchema] { collections.filter { !$0.name.hasPrefix("_") } }

    public func collection(_ name: String) -> CollectionSchema? {
        collectionIndex[UTF8Key(name)].map { collections[$0] }
    }

    /// The collection, or an error naming the closest existing one.
    public func requireCollection(_ name: String) throws(SchemaError) -> CollectionSchema {
        guard let collection = collection(name) else {
            throw .unknownCollection(name, suggestion: closestName(to: name, among: collections.map(\.name)),
                                     known: collections.map(\.name))
        }
        return collection
    }

    /// Loads and checks a schema file.
    public static func load(contentsOf url: URL) throws -> Schema {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SchemaError.unreadableSchema(path: url.path, reason: error.localizedDescription)
        }
        return try parse(data, source: url.path)
    }

    /// Parses and checks schema JSON; `source` names it in errors.
    public static func parse(_ data: Data, source: String) throws -> Schema {
        let schema: Schema
        do { schema = try JSONDecoder().decode(Schema.self, from: data) } catch {
            throw SchemaError.invalidSchema(path: source, reason: describe(decodingError: error))
        }
        try schema.check(source: source)
        return schema
    }

    /// The schema and seed data shipped with the project.
    public static let criticalMinerals: Schema = {
        do { return try parse(Data(EmbeddedDataset.schemaJSON.utf8), source: "embedded schema") } catch {
            fatalError("the embedded schema is invalid: \(error)")
        }
    }()

    private func check(source: String) throws(SchemaError) {
        var seen = Set<String>()
        for collection in collections {
            guard Self.isIdentifier(collection.name), Self.isFreeOfDerivedNames(collection.name) else {
                throw .invalidSchema(path: source, reason: "collection name '\(collection.name)' must be lower-case letters, digits and '_', not start with '_', sync_, sqlite_ or grdb_, not contain _by_ and not end with _new, _pending or _refuse (names the store derives for its own tables, indexes and triggers)")
            }
            guard seen.insert(collection.name).inserted else {
                throw .invalidSchema(path: source, reason: "collection '\(collection.name)' is defined twice")
            }
            var fieldNames = Set<String>()
            for field in collection.fields {
                guard Self.isIdentifier(field.name), !["id", "conflicted"].contains(field.name) else {
                    throw .invalidSchema(path: source, reason: "field '\(collection.name).\(field.name)': names are lower-case letters, digits and '_', and 'id' and 'conflicted' are reserved")
                }
                guard fieldNames.insert(field.name).inserted else {
                    throw .invalidSchema(path: source, reason: "field '\(collection.name).\(field.name)' is defined twice")
                }
                if field.type == .enumeration, (field.values ?? []).isEmpty {
                    throw .invalidSchema(path: source, reason: "enum field '\(collection.name).\(field.name)' needs a non-empty \"values\" list")
                }
                if field.type == .ref || (field.type == .set && field.of == .ref) {
                    let targets = field.targets ?? []
                    guard !targets.isEmpty else {
                        throw .invalidSchema(path: source, reason: "reference field '\(collection.name).\(field.name)' needs a non-empty \"targets\" list")
                    }
                    for target in targets where !collections.contains(where: { $0.name == target }) {
                        throw .invalidSchema(path: source, reason: "field '\(collection.name).\(field.name)' refers to unknown collection '\(target)'")
                    }
                }
                if field.type == .set, field.of == nil {
                    throw .invalidSchema(path: source, reason: "set field '\(collection.name).\(field.name)' needs \"of\": \"text\" or \"ref\"")
                }
            }
        }
    }

    /// Whether no name the store derives from a collection's (its index
    /// `X_by_F`, queue `sync_sql_edits_X` with `_new` and `_pending`,
    /// triggers `sync_sql_X_refuse_…`) can be one derived from another's:
    /// the collection name contains no `_by_`, does not end with `_new`,
    /// `_pending` or `_refuse`, and does not start with a reserved prefix.
    /// Deterministic, so every replica withholds the same names.
    static func isFreeOfDerivedNames(_ name: String) -> Bool {
        !["sync_", "sqlite_", "grdb_", "_"].contains { name.hasPrefix($0) }
            && !name.contains("_by_") && !["_new", "_pending", "_refuse"].contains { name.hasSuffix($0) }
    }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) || first == "_" else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    private static func describe(decodingError error: Error) -> String {
        guard let error = error as? DecodingError else { return error.localizedDescription }
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing key '\(key.stringValue)' at \(path(context).isEmpty ? "top level" : path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): return "\(context.debugDescription) at \(path(context))"
        case .dataCorrupted(let context): return "\(context.debugDescription) \(path(context))"
        @unknown default: return "\(error)"
        }
    }
}

/// One collection: a name and its fields, in display order.
public struct CollectionSchema: Codable, Hashable, Sendable {
    public let name: String
    public let description: String?
    public let fields: [FieldSchema]
    /// Field index by name, as bytes (as `Schema.collectionIndex`).
    private let fieldIndex: [UTF8Key: Int]

    private enum CodingKeys: String, CodingKey { case name, description, fields }

    public init(name: String, description: String? = nil, fields: [FieldSchema]) {
        self.name = name
        self.description = description
        self.fields = fields
        fieldIndex = Dictionary(fields.enumerated().map { (UTF8Key($0.element.name), $0.offset) }, uniquingKeysWith: { first, _ in first })
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try container.decode(String.self, forKey: .name),
                  description: try container.decodeIfPresent(String.self, forKey: .description),
                  fields: try container.decode([FieldSchema].self, forKey: .fields))
    }

    public func field(_ name: String) -> FieldSchema? { fieldIndex[UTF8Key(name)].map { fields[$0] } }

    /// The position of a field in `fields`; nil for an unknown name.
    func position(of name: String) -> Int? { fieldIndex[UTF8Key(name)] }

    /// The field, or an error naming the closest existing one.
    public func requireField(_ name: String) throws(SchemaError) -> FieldSchema {
        guard let field = field(name) else {
            throw .unknownField(collection: self.name, field: name,
                                suggestion: closestName(to: name, among: fields.map(\.name)), known: fields.map(\.name))
        }
        return field
    }

    public var requiredFields: [FieldSchema] { fields.filter(\.isRequired) }
}

/// A field's type and constraints.
public struct FieldSchema: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable {
        case text, integer, decimal, date, bool
        case enumeration = "enum"
        case ref, set
    }

    public enum MemberKind: String, Codable, Hashable, Sendable {
        case text, ref
    }

    public let name: String
    public let type: Kind
    public let required: Bool?
    /// The allowed values of an enum field.
    public let values: [String]?
    /// The collections a ref (or set of refs) may point into.
    public let targets: [String]?
    /// What a set holds.
    public let of: MemberKind?
    public let description: String?
    /// A short name for forms and tables (`syncctl schema describe --label`).
    public let label: String?
    /// Hidden from forms and tables; its data is kept and still readable
    /// (`syncctl schema deprecate-field`).
    public let deprecated: Bool?

    public init(name: String, type: Kind, required: Bool? = nil, values: [String]? = nil,
                targets: [String]? = nil, of: MemberKind? = nil, description: String? = nil, label: String? = nil, deprecated: Bool? = nil) {
        self.name = name
        self.type = type
        self.required = required
        self.values = values
        self.targets = targets
        self.of = of
        self.description = description
        self.label = label
        self.deprecated = deprecated
    }

    public var isDeprecated: Bool { deprecated ?? false }

    public var isRequired: Bool { required ?? false }
    public var isSet: Bool { type == .set }
}
