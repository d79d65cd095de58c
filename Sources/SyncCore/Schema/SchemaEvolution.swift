import Foundation

/// The schema as replicated data (issue 25; docs/schema.md "How the schema
/// evolves"): the shipped schema is only the seed; additions are records of
/// the reserved collection `_schema`, written, merged and conflicted like
/// any other record. Pure: the records come in, the schema a replica
/// validates against comes out. No I/O, no clock.
///
/// Layout of `_schema` (record id → fields):
/// - `c.COLLECTION` — a collection added after the seed: `description`,
///   `deprecated`.
/// - `f.COLLECTION.FIELD` — a field: `type` (`text`, `integer`, `decimal`,
///   `date`, `bool`, `enum`, `ref`, `set:text`, `set:ref`), `values` and
///   `targets` (the lists given when it was added, as canonical JSON text:
///   two replicas adding the same field with different lists conflict on
///   them), `more_values` and `more_targets` (sets: what `add-value` and
///   `add-target` added later; concurrent additions all arrive), `label`,
///   `description`, `deprecated`.
///
/// A seed field may get `f.` records too (a description, a deprecation,
/// more values); its `type` record, if any, must agree with the seed.
public enum SchemaEvolution {
    /// The reserved collection that holds the schema records.
    public static let collection = "_schema"

    /// One `_schema` record as read from the store: every live version of
    /// each scalar field (more than one is a conflict) and the members of
    /// each set field.
    public struct Record: Sendable, Equatable {
        public var id: String
        public var scalars: [String: [Value]]
        public var sets: [String: [String]]

        public init(id: String, scalars: [String: [Value]] = [:], sets: [String: [String]] = [:]) {
            self.id = id
            self.scalars = scalars
            self.sets = sets
        }
    }

    /// A definition that cannot be used as it stands: concurrent additions
    /// that disagree (resolve it like any conflict), or one that does not fit
    /// the rest of the schema. Its data is stored and reported meanwhile.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var record: String
        public var field: String?
        public var reason: String
        public var isConflict: Bool
        public var description: String { "\(collection)/\(record)\(field.map { ".\($0)" } ?? ""): \(reason)" }
    }

    public struct Effective: Sendable, Equatable {
        public var schema: Schema
        /// Fields hidden from forms and tables (data kept and readable), by collection.
        public var deprecated: [String: Set<String>]
        public var problems: [Problem]
    }

    /// The schema a replica validates against: the seed with every usable
    /// addition, in a stable order (seed order, then additions by name).
    public static func effective(seed: Schema, records: [Record]) -> Effective {
        var problems: [Problem] = []
        var deprecated: [String: Set<String>] = [:]
        var collections = seed.collections.map { Draft(collection: $0) }
        func index(of name: String) -> Int? { collections.firstIndex { $0.name == name } }

        let sorted = records.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        // Collections first: a field may name a collection added in the same breath.
        for record in sorted {
            guard case .collection(let name)? = Key(record.id) else { continue }
            guard let description = single(record, "description", &problems) else { continue }
            if let existing = index(of: name) {
                if case .text(let text) = description { collections[existing].description = text }
            } else {
                guard Schema.isIdentifier(name), !name.hasPrefix("sync_"), !name.hasPrefix("sqlite_"), !name.hasPrefix("_") else {
                    problems.append(Problem(record: record.id, field: nil, reason: "'\(name)' is not a collection name", isConflict: false))
                    continue
                }
                collections.append(Draft(name: name, description: description.textValue))
            }
            if case .bool(true)? = (try? single(record, "deprecated")) ?? nil { deprecated[name, default: []].insert("*") }
        }
        for record in sorted {
            guard case .field(let collectionName, let fieldName)? = Key(record.id) else {
                if Key(record.id) == nil {
                    problems.append(Problem(record: record.id, field: nil, reason: "not a schema record id (c.COLLECTION or f.COLLECTION.FIELD)", isConflict: false))
                }
                continue
            }
            guard let at = index(of: collectionName) else {
                problems.append(Problem(record: record.id, field: nil, reason: "collection '\(collectionName)' is not in the schema", isConflict: false))
                continue
            }
            let seedField = collections[at].fields.first { $0.name == fieldName }
            // Every scalar must have one value; a conflict withholds the whole field.
            var conflicted = false
            for (name, versions) in record.scalars.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) where distinct(versions).count > 1 {
                problems.append(Problem(record: record.id, field: name, reason: "concurrent definitions disagree: \(versions.map(\.description).joined(separator: " / ")); resolve it with `syncctl resolve \(collection)/\(record.id) \(name)`", isConflict: true))
                conflicted = true
            }
            if conflicted { continue }
            let value = { (name: String) -> Value? in record.scalars[name]?.first }
            if value("deprecated") == .bool(true) { deprecated[collectionName, default: []].insert(fieldName) }
            let description = value("description")?.textValue
            if let seedField {
                if let typeText = value("type")?.textValue, typeText != Self.typeText(seedField) {
                    problems.append(Problem(record: record.id, field: "type", reason: "the field is '\(Self.typeText(seedField))' already; a type is never changed", isConflict: false))
                    continue
                }
                collections[at].replace(seedField.adding(values: record.sets["more_values"] ?? [], targets: record.sets["more_targets"] ?? [],
                                                          description: description))
                continue
            }
            guard Schema.isIdentifier(fieldName), !["id", "conflicted"].contains(fieldName) else {
                problems.append(Problem(record: record.id, field: nil, reason: "'\(fieldName)' is not a field name", isConflict: false))
                continue
            }
            guard let typeText = value("type")?.textValue, let kind = Self.kind(typeText) else {
                problems.append(Problem(record: record.id, field: "type", reason: "no usable type", isConflict: false))
                continue
            }
            let values = Self.list(value("values")) + (record.sets["more_values"] ?? [])
            let targets = Self.list(value("targets")) + (record.sets["more_targets"] ?? [])
            let field = FieldSchema(name: fieldName, type: kind.type, required: nil, values: kind.type == .enumeration ? unique(values) : nil,
                                    targets: kind.needsTargets ? unique(targets) : nil, of: kind.of, description: description)
            if kind.type == .enumeration, field.values?.isEmpty ?? true {
                problems.append(Problem(record: record.id, field: "values", reason: "an enum needs values", isConflict: false))
                continue
            }
            if kind.needsTargets {
                let unknown = (field.targets ?? []).filter { index(of: $0) == nil }
                guard !(field.targets ?? []).isEmpty, unknown.isEmpty else {
                    problems.append(Problem(record: record.id, field: "targets", reason: unknown.isEmpty ? "a reference needs targets" : "unknown target collection \(unknown.joined(separator: ", "))", isConflict: false))
                    continue
                }
            }
            collections[at].add(field)
        }
        let schema = Schema(name: seed.name, version: seed.version, collections: collections.map(\.collection))
        return Effective(schema: schema, deprecated: deprecated, problems: problems)
    }

    // MARK: - Changes an analyst asks for

    /// One change by command (`syncctl schema …`).
    public enum Change: Sendable, Equatable {
        case addCollection(name: String, description: String?)
        case addField(collection: String, field: String, type: String, values: [String], targets: [String], description: String?)
        case addValue(collection: String, field: String, value: String)
        case addTarget(collection: String, field: String, target: String)
        case describe(collection: String, field: String?, description: String)
        case deprecateField(collection: String, field: String)
    }

    /// What to write for a change: (record id, field, value) for scalars and
    /// (record id, set field, member) for set additions. Refused when the
    /// change is not additive, with what to do instead.
    public struct Writes: Sendable, Equatable {
        public var record: String
        public var scalars: [(String, Value)]
        public var members: [(String, String)]

        public static func == (a: Writes, b: Writes) -> Bool {
            a.record == b.record && a.scalars.elementsEqual(b.scalars, by: { $0.0 == $1.0 && $0.1 == $1.1 })
                && a.members.elementsEqual(b.members, by: { $0 == $1 })
        }
    }

    public static func plan(_ change: Change, against current: Schema) throws(SchemaError) -> Writes {
        switch change {
        case .addCollection(let name, let description):
            guard Schema.isIdentifier(name), !name.hasPrefix("sync_"), !name.hasPrefix("sqlite_"), !name.hasPrefix("_") else {
                throw .refusedChange("'\(name)' is not a collection name: lower-case letters, digits and '_', not starting with '_', sync_ or sqlite_")
            }
            guard current.collection(name) == nil else { throw .refusedChange("collection '\(name)' exists already") }
            return Writes(record: "c.\(name)", scalars: [("description", description.map(Value.text) ?? .null)], members: [])
        case .addField(let collectionName, let fieldName, let typeText, let values, let targets, let description):
            let collection = try current.requireCollection(collectionName)
            if let existing = collection.field(fieldName) {
                let hint = existing.type == .enumeration ? "; to allow more values use `syncctl schema add-value`" : ""
                throw .refusedChange("field '\(collectionName).\(fieldName)' exists already as \(Self.typeText(existing)); a type is never changed: add a field under a new name and move the values with `syncctl export`/`import`\(hint)")
            }
            guard Schema.isIdentifier(fieldName), !["id", "conflicted"].contains(fieldName) else {
                throw .refusedChange("'\(fieldName)' is not a field name: lower-case letters, digits and '_'; 'id' and 'conflicted' are reserved")
            }
            guard let kind = kind(typeText) else {
                throw .refusedChange("'\(typeText)' is not a type: use text, integer, decimal, date, bool, enum, ref, set:text or set:ref")
            }
            if kind.type == .enumeration, values.isEmpty { throw .refusedChange("an enum field needs --values") }
            if kind.needsTargets {
                guard !targets.isEmpty else { throw .refusedChange("a reference field needs --targets") }
                for target in targets where current.collection(target) == nil {
                    throw .refusedChange("target collection '\(target)' is not in the schema")
                }
            }
            var scalars: [(String, Value)] = [("type", .text(typeText))]
            if kind.type == .enumeration { scalars.append(("values", .text(canonicalList(values)))) }
            if kind.needsTargets { scalars.append(("targets", .text(canonicalList(targets)))) }
            if let description { scalars.append(("description", .text(description))) }
            return Writes(record: "f.\(collectionName).\(fieldName)", scalars: scalars, members: [])
        case .addValue(let collectionName, let fieldName, let value):
            let field = try current.requireCollection(collectionName).requireField(fieldName)
            guard field.type == .enumeration else { throw .refusedChange("'\(collectionName).\(fieldName)' is not an enum") }
            guard !(field.values ?? []).contains(where: { UTF8Identity.equal($0, value) }) else {
                throw .refusedChange("'\(value)' is allowed already")
            }
            return Writes(record: "f.\(collectionName).\(fieldName)", scalars: [], members: [("more_values", value)])
        case .addTarget(let collectionName, let fieldName, let target):
            let field = try current.requireCollection(collectionName).requireField(fieldName)
            guard field.type == .ref || (field.type == .set && field.of == .ref) else { throw .refusedChange("'\(collectionName).\(fieldName)' is not a reference") }
            guard current.collection(target) != nil else { throw .refusedChange("target collection '\(target)' is not in the schema") }
            guard !(field.targets ?? []).contains(target) else { throw .refusedChange("'\(target)' is a target already") }
            return Writes(record: "f.\(collectionName).\(fieldName)", scalars: [], members: [("more_targets", target)])
        case .describe(let collectionName, let fieldName, let description):
            let collection = try current.requireCollection(collectionName)
            guard let fieldName else { return Writes(record: "c.\(collectionName)", scalars: [("description", .text(description))], members: []) }
            _ = try collection.requireField(fieldName)
            return Writes(record: "f.\(collectionName).\(fieldName)", scalars: [("description", .text(description))], members: [])
        case .deprecateField(let collectionName, let fieldName):
            let field = try current.requireCollection(collectionName).requireField(fieldName)
            guard !field.isRequired else { throw .refusedChange("'\(collectionName).\(fieldName)' is required; a required field cannot be hidden") }
            return Writes(record: "f.\(collectionName).\(fieldName)", scalars: [("deprecated", .bool(true))], members: [])
        }
    }

    // MARK: - Helpers

    enum Key: Equatable {
        case collection(String)
        case field(String, String)

        init?(_ id: String) {
            let parts = id.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            switch (parts.first, parts.count) {
            case ("c", 2): self = .collection(parts[1])
            case ("f", 3): self = .field(parts[1], parts[2])
            default: return nil
            }
        }
    }

    struct Kind {
        var type: FieldSchema.Kind
        var of: FieldSchema.MemberKind?
        var needsTargets: Bool { type == .ref || of == .ref }
    }

    static func kind(_ text: String) -> Kind? {
        switch text {
        case "set:text": return Kind(type: .set, of: .text)
        case "set:ref": return Kind(type: .set, of: .ref)
        case "set": return nil
        default: return FieldSchema.Kind(rawValue: text).map { Kind(type: $0, of: nil) }
        }
    }

    static func typeText(_ field: FieldSchema) -> String {
        field.type == .set ? "set:\(field.of?.rawValue ?? "text")" : field.type.rawValue
    }

    /// A list as the JSON text that is stored: sorted by UTF-8 bytes, no
    /// repeats, so two replicas that add the same list write equal bytes.
    static func canonicalList(_ items: [String]) -> String {
        let sorted = unique(items).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let data = (try? JSONSerialization.data(withJSONObject: sorted, options: [.withoutEscapingSlashes])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func list(_ value: Value?) -> [String] {
        guard let text = value?.textValue, let data = text.data(using: .utf8),
              let items = try? JSONSerialization.jsonObject(with: data) as? [String] else { return [] }
        return items
    }

    /// The values that differ, compared as values (text by its UTF-8 bytes).
    static func distinct(_ values: [Value]) -> [Value] {
        var out: [Value] = []
        for value in values where !out.contains(value) { out.append(value) }
        return out
    }

    static func unique(_ items: [String]) -> [String] {
        var seen: [[UInt8]] = []
        return items.filter { item in
            let bytes = Array(item.utf8)
            guard !seen.contains(bytes) else { return false }
            seen.append(bytes)
            return true
        }
    }

    private static func single(_ record: Record, _ field: String, _ problems: inout [Problem]) -> Value? {
        let versions = record.scalars[field] ?? []
        guard distinct(versions).count <= 1 else {
            problems.append(Problem(record: record.id, field: field, reason: "concurrent definitions disagree", isConflict: true))
            return nil
        }
        return versions.first ?? .null
    }

    private static func single(_ record: Record, _ field: String) throws -> Value? {
        let versions = record.scalars[field] ?? []
        return distinct(versions).count == 1 ? versions.first : nil
    }

    /// A collection being assembled.
    struct Draft {
        var name: String
        var description: String?
        var fields: [FieldSchema]

        init(collection: CollectionSchema) {
            name = collection.name
            description = collection.description
            fields = collection.fields
        }

        init(name: String, description: String?) {
            self.name = name
            self.description = description
            fields = []
        }

        mutating func add(_ field: FieldSchema) { fields.append(field) }

        mutating func replace(_ field: FieldSchema) {
            if let index = fields.firstIndex(where: { $0.name == field.name }) { fields[index] = field }
        }

        var collection: CollectionSchema { CollectionSchema(name: name, description: description, fields: fields) }
    }
}

extension FieldSchema {
    /// The same field with more enum values or targets (never fewer) and
    /// perhaps a new description.
    func adding(values more: [String], targets moreTargets: [String], description newDescription: String?) -> FieldSchema {
        FieldSchema(name: name, type: type, required: required,
                    values: values.map { SchemaEvolution.unique($0 + (type == .enumeration ? more : [])) },
                    targets: targets.map { SchemaEvolution.unique($0 + moreTargets) }, of: of, description: newDescription ?? description)
    }
}

extension Value {
    var textValue: String? { if case .text(let text) = self { text } else { nil } }
}
