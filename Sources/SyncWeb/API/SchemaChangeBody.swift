import Foundation
import SyncCore

/// A schema change as the app sends it (`POST /api/v1/schema/ACTION`),
/// turned into the `SchemaEvolution.Change` that `syncctl schema ACTION`
/// makes (pure). Whether the change is allowed is the store's decision
/// (`Store.changeSchema`), with `syncctl`'s messages.
///
/// `{"collection": "agreements", "field": "value_usd", "type": "decimal",
///   "description": "Headline value in USD"}`
public struct SchemaChangeBody: Decodable, Sendable {
    public var collection: String?
    public var field: String?
    public var type: String?
    public var values: [String]?
    public var targets: [String]?
    public var value: String?
    public var target: String?
    public var label: String?
    public var description: String?

    /// The last path segment: one per `syncctl schema` subcommand that changes the schema.
    public enum Action: String, CaseIterable, Sendable {
        case addCollection = "add-collection"
        case addField = "add-field"
        case addValue = "add-value"
        case addTarget = "add-target"
        case describe
        case deprecateField = "deprecate-field"

        /// The action a path segment names, matched byte for byte.
        public init?(segment: String) {
            guard let action = Self.allCases.first(where: { $0.rawValue.utf8.elementsEqual(segment.utf8) }) else { return nil }
            self = action
        }

        static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }
    }

    public init(collection: String? = nil, field: String? = nil, type: String? = nil, values: [String]? = nil, targets: [String]? = nil,
                value: String? = nil, target: String? = nil, label: String? = nil, description: String? = nil) {
        self.collection = collection
        self.field = field
        self.type = type
        self.values = values
        self.targets = targets
        self.value = value
        self.target = target
        self.label = label
        self.description = description
    }

    public static func decode(_ bytes: [UInt8]) throws -> SchemaChangeBody {
        do { return try JSONDecoder().decode(SchemaChangeBody.self, from: Data(bytes)) } catch {
            throw UIError("the body is not the JSON expected ({\"collection\": ..., \"field\": ..., ...}; see docs/api.md): \(error)")
        }
    }

    /// The change this body asks for; a part the action needs and the body
    /// lacks is a `UIError` naming it.
    public func change(_ action: Action) throws -> SchemaEvolution.Change {
        func required(_ value: String?, _ name: String) throws -> String {
            guard let value, !value.isEmpty else { throw UIError("\(action.rawValue) needs \"\(name)\"") }
            return value
        }
        switch action {
        case .addCollection:
            return .addCollection(name: try required(collection, "collection"), description: description)
        case .addField:
            return .addField(collection: try required(collection, "collection"), field: try required(field, "field"), type: try required(type, "type"),
                             values: values ?? [], targets: targets ?? [], description: description)
        case .addValue:
            return .addValue(collection: try required(collection, "collection"), field: try required(field, "field"), value: try required(value, "value"))
        case .addTarget:
            return .addTarget(collection: try required(collection, "collection"), field: try required(field, "field"), target: try required(target, "target"))
        case .describe:
            // Without "field" the collection's description is set.
            return .describe(collection: try required(collection, "collection"), field: field.flatMap { $0.isEmpty ? nil : $0 },
                             label: label, description: description)
        case .deprecateField:
            return .deprecateField(collection: try required(collection, "collection"), field: try required(field, "field"))
        }
    }
}
