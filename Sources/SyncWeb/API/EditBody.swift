import Foundation
import SyncCore

/// A create or update request's body, turned into edits with the same checks
/// and messages as `syncctl set`, collected per field (pure).
///
/// `{"fields": {"status": "active", "announced": "2025-10-30", "notes": null},
///   "add": {"parties": ["countries/mn"]}, "remove": {"minerals": ["minerals/copper"]}}`
///
/// A string value is parsed as `syncctl` parses FIELD=VALUE; a number, a
/// boolean or null is checked as it is.
public struct EditBody: Decodable, Sendable {
    public var id: String?
    public var fields: [String: JSONValue]?
    public var add: [String: [String]]?
    public var remove: [String: [String]]?
    /// Per field, the version token the editor was shown (`versions` of
    /// `GET /records/…`); the edit is refused (409) if the field changed since.
    public var expect: [String: String]?

    /// Fields edited at most by one request (a body comes from a client).
    public static let maxEdits = 256

    public struct Problems: Error, Sendable {
        public var fields: [String: String]
        public var message: String {
            fields.count == 1 ? fields.values.first! : "\(fields.count) fields need fixing: see each field"
        }
    }

    public static func decode(_ bytes: [UInt8]) throws -> EditBody {
        do { return try JSONDecoder().decode(EditBody.self, from: Data(bytes)) } catch {
            throw UIError("the body is not the JSON expected ({\"fields\": {...}, \"add\": {...}, \"remove\": {...}}): \(error)")
        }
    }

    public func edits(for collection: CollectionSchema) throws -> [FieldEdit] {
        var edits: [FieldEdit] = []
        var problems: [String: String] = [:]
        let count = (fields?.count ?? 0) + (add?.values.map(\.count).reduce(0, +) ?? 0) + (remove?.values.map(\.count).reduce(0, +) ?? 0)
        guard count <= Self.maxEdits else { throw Problems(fields: ["_": "at most \(Self.maxEdits) edits in one request"]) }
        for (name, value) in (fields ?? [:]).sorted(by: { $0.key < $1.key }) {
            do {
                let field = try collection.requireField(name)
                if field.isSet { throw SchemaError.isASet(field: name) }
                switch value.value {
                case .text(let text): edits.append(.set(field.name, try field.parse(text)))
                default: edits.append(.set(field.name, try field.validate(value.value)))
                }
            } catch {
                problems[name] = "\(error)"
            }
        }
        for (members, adding) in [(add ?? [:], true), (remove ?? [:], false)] {
            for (name, list) in members.sorted(by: { $0.key < $1.key }) {
                do {
                    let field = try collection.requireField(name)
                    guard field.isSet else { throw SchemaError.notASet(field: name) }
                    for member in list {
                        let checked = try field.validateMember(member)
                        edits.append(adding ? .add(field.name, checked) : .remove(field.name, checked))
                    }
                } catch {
                    problems[name] = "\(error)"
                }
            }
        }
        if !problems.isEmpty { throw Problems(fields: problems) }
        return edits
    }
}

/// A resolution: the field, the token of the siblings shown, and a pick
/// (1-based) or a value (`keep`/`delete` for `_exists`).
public struct ResolveBody: Decodable, Sendable {
    public var field: String
    public var token: String
    public var pick: Int?
    public var value: JSONValue?
}
