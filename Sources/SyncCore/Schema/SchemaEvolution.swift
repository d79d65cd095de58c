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
        /// The seed, the usable additions (deprecated fields marked), and `_schema`.
        public var schema: Schema
        public var problems: [Problem]
    }

    /// The schema a replica validates against: the seed with every usable
    /// addition, in a stable order (seed order, then additions by name).
    /// Bounds on what `_schema` records may define (a peer writes them);
    /// what passes a bound is a problem, never an error.
    public enum Limits {
        /// Collections in all, the seed's included.
        public static let collections = 64
        /// Fields of one collection, the seed's included.
        public static let fieldsPerCollection = 200
        /// Values of an enum or targets of a reference.
        public static let listEntries = 1_000
        /// Bytes of a collection or field name.
        public static let nameBytes = 64
        /// Bytes of one enum value (a set member's key part on the wire is
        /// bounded too; a longer value would be refused by peers).
        public static let valueBytes = 256
        /// Bytes of a label (shown as a field's name in every analyst's forms).
        public static let labelBytes = 128
        /// Bytes of a description.
        public static let descriptionBytes = 2_048
    }

    /// The scalar fields of a `_schema` record; only these names (compared
    /// by their bytes when the store reads the record) are ever looked at.
    public static let scalarFields = ["type", "values", "targets", "label", "description", "deprecated"]
    /// Its set fields.
    public static let setFields = ["more_values", "more_targets"]

    /// The reserved collection itself, part of every effective schema so
    /// its records validate, conflict and resolve like any others; it has
    /// no SQL table.
    public static let definition = CollectionSchema(name: collection, description: "The team's schema additions (syncctl schema)", fields: [
        FieldSchema(name: "type", type: .text), FieldSchema(name: "values", type: .text), FieldSchema(name: "targets", type: .text),
        FieldSchema(name: "label", type: .text), FieldSchema(name: "description", type: .text), FieldSchema(name: "deprecated", type: .bool),
        FieldSchema(name: "more_values", type: .set, of: .text), FieldSchema(name: "more_targets", type: .set, of: .text),
    ])

    /// Whether `name` may name a collection added by a record: an
    /// identifier of at most `Limits.nameBytes` bytes that cannot be taken
    /// for one of the store's own objects.
    public static func isCollectionName(_ name: String) -> Bool {
        Schema.isIdentifier(name) && name.utf8.count <= Limits.nameBytes && Schema.isFreeOfDerivedNames(name)
    }

    public static func isFieldName(_ name: String) -> Bool {
        Schema.isIdentifier(name) && name.utf8.count <= Limits.nameBytes && !name.hasPrefix("_") && !["id", "conflicted"].contains(name)
    }

    /// The schema a replica validates against: the seed with every usable
    /// addition, in a stable order (seed order, then additions by the bytes
    /// of their names), then `_schema` itself. A function of the records
    /// alone, so replicas holding equal records compute equal schemas.
    ///
    /// Only a disagreement on what decides validation (`type`, `values`,
    /// `targets`) withholds a definition; concurrent labels or descriptions
    /// show as ordinary conflicts and the greatest (by bytes) is shown
    /// meanwhile; a field is deprecated when any version says so.
    ///
    /// - Parameter unavailable: names (as `SQLiteName.key`)
    ///   taken in this replica's file by objects the store did not make; an
    ///   added collection by such a name is withheld here (and reported)
    ///   rather than take them over.
    public static func effective(seed: Schema, records: [Record], unavailable: Set<[UInt8]> = []) -> Effective {
        var problems: [Problem] = []
        var collections = seed.collections.filter { $0.name != collection }.map { Draft(collection: $0) }
        func index(of name: String) -> Int? { collections.firstIndex { $0.name.utf8.elementsEqual(name.utf8) } }
        func problem(_ record: Record, _ field: String?, _ reason: String, conflict: Bool = false) {
            problems.append(Problem(record: record.id, field: field, reason: reason, isConflict: conflict))
        }

        let sorted = records.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        // Collections first: a field may name a collection added in the same breath.
        for record in sorted {
            guard case .collection(let name)? = Key(record.id) else { continue }
            let description = greatestText(record.scalars["description"]).map { UTF8Identity.fitting($0, maxBytes: Limits.descriptionBytes) }
            if let existing = index(of: name) {
                if let description { collections[existing].description = description }
                continue
            }
            guard isCollectionName(name) else { problem(record, nil, "'\(name)' is not a collection name"); continue }
            guard !unavailable.contains(SQLiteName.key(name)) else {
                problem(record, nil, "this replica's database holds another table, view, index or trigger named '\(name)' (not made by syncd): rename or drop it, and the collection appears at the next open")
                continue
            }
            guard collections.count < Limits.collections else {
                problem(record, nil, "more than \(Limits.collections) collections"); continue
            }
            collections.append(Draft(name: name, description: description))
        }
        for record in sorted {
            guard case .field(let collectionName, let fieldName)? = Key(record.id) else {
                if Key(record.id) == nil { problem(record, nil, "not a schema record id (c.COLLECTION or f.COLLECTION.FIELD)") }
                continue
            }
            guard let at = index(of: collectionName) else {
                problem(record, nil, "collection '\(collectionName)' is not in the schema")
                continue
            }
            let value = { (name: String) -> Value? in record.scalars[name]?.first }
            let deprecated = (record.scalars["deprecated"] ?? []).contains(.bool(true)) ? true : nil
            var label = greatestText(record.scalars["label"])
            if let text = label, !isLabel(text) {
                problem(record, "label", "a label is 1 to \(Limits.labelBytes) bytes without control or invisible characters; the field's name is shown instead")
                label = nil
            }
            // Cut at a character boundary, alike on every replica.
            let description = greatestText(record.scalars["description"]).map { UTF8Identity.fitting($0, maxBytes: Limits.descriptionBytes) }
            // Bounded before any work: a peer may send any number of members.
            var moreValues = Array((record.sets["more_values"] ?? []).prefix(Limits.listEntries * 4))
            let moreTargets = Array((record.sets["more_targets"] ?? []).prefix(Limits.listEntries * 4))
            if moreValues.contains(where: { $0.utf8.count > Limits.valueBytes }) {
                problem(record, "more_values", "values over \(Limits.valueBytes) bytes are left out")
                moreValues = moreValues.filter { $0.utf8.count <= Limits.valueBytes }
            }
            if let seedField = collections[at].fields.first(where: { $0.name.utf8.elementsEqual(fieldName.utf8) }) {
                let types = distinct(record.scalars["type"] ?? [])
                if types.contains(where: { $0.textValue != Self.typeText(seedField) }) {
                    problem(record, "type", "the field is '\(Self.typeText(seedField))' already; a type is never changed")
                }
                if record.scalars["values"] != nil || record.scalars["targets"] != nil {
                    problem(record, nil, "the lists of an existing field only grow through more_values and more_targets")
                }
                var grown = seedField.adding(values: moreValues, targets: moreTargets.filter { index(of: $0) != nil },
                                             label: label, description: description, deprecated: deprecated)
                if (grown.values?.count ?? 0) > Limits.listEntries || (grown.targets?.count ?? 0) > Limits.listEntries {
                    // Never narrowed: the first ones (seed, then additions by bytes) are kept.
                    problem(record, nil, "more than \(Limits.listEntries) values or targets; those past the limit are left out")
                    grown = grown.truncated(to: Limits.listEntries)
                }
                collections[at].replace(grown)
                continue
            }
            guard isFieldName(fieldName) else { problem(record, nil, "'\(fieldName)' is not a field name"); continue }
            // A disagreement on what decides validation withholds the field.
            var conflicted = false
            for name in ["type", "values", "targets"] {
                let versions = distinct(record.scalars[name] ?? [])
                guard versions.count > 1 else { continue }
                problem(record, name, "concurrent definitions disagree: \(versions.map(\.description).joined(separator: " / ")); resolve it with `syncctl resolve \(collection)/\(record.id) \(name)`", conflict: true)
                conflicted = true
            }
            if conflicted { continue }
            guard let typeText = value("type")?.textValue, let kind = Self.kind(typeText) else {
                problem(record, "type", "no usable type")
                continue
            }
            guard collections[at].fields.count < Limits.fieldsPerCollection else {
                problem(record, nil, "more than \(Limits.fieldsPerCollection) fields in '\(collectionName)'")
                continue
            }
            let firstValues = Self.list(value("values"))
            guard firstValues.count <= Limits.listEntries, firstValues.allSatisfy({ $0.utf8.count <= Limits.valueBytes }) else {
                problem(record, "values", "more than \(Limits.listEntries) values, or a value over \(Limits.valueBytes) bytes")
                continue
            }
            var values = unique(firstValues + moreValues)
            var targets = unique(Self.list(value("targets")) + moreTargets)
            if values.count > Limits.listEntries || targets.count > Limits.listEntries {
                problem(record, nil, "more than \(Limits.listEntries) values or targets; those past the limit are left out")
                values = Array(values.prefix(Limits.listEntries))
                targets = Array(targets.prefix(Limits.listEntries))
            }
            if kind.type == .enumeration, values.isEmpty {
                problem(record, "values", "an enum needs values")
                continue
            }
            var usableTargets: [String]?
            if kind.needsTargets {
                // A target added later by `add-target` that names no
                // collection is left out; the first list must hold.
                let first = Self.list(value("targets"))
                let unknown = first.filter { index(of: $0) == nil }
                guard !first.isEmpty, unknown.isEmpty else {
                    problem(record, "targets", unknown.isEmpty ? "a reference needs targets" : "unknown target collection \(unknown.joined(separator: ", "))")
                    continue
                }
                usableTargets = targets.filter { index(of: $0) != nil }
            }
            collections[at].add(FieldSchema(name: fieldName, type: kind.type, required: nil, values: kind.type == .enumeration ? values : nil,
                                            targets: usableTargets, of: kind.of, description: description, label: label, deprecated: deprecated))
        }
        let schema = Schema(name: seed.name, version: seed.version, collections: collections.map(\.collection) + [definition])
        return Effective(schema: schema, problems: problems)
    }

    /// The greatest text among concurrent versions, by bytes (nil when none is text).
    static func greatestText(_ versions: [Value]?) -> String? {
        (versions ?? []).compactMap(\.textValue).max { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Whether a label can stand for a field's name in a form: at most
    /// `Limits.labelBytes`, no control, format (bidi overrides, zero-width)
    /// or line-separator characters that could make it look like another.
    public static func isLabel(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= Limits.labelBytes && !text.unicodeScalars.contains { $0.properties.generalCategory.isHiddenOrUnassigned }
    }

    // MARK: - Changes an analyst asks for

    /// One change by command (`syncctl schema …`).
    public enum Change: Sendable, Equatable {
        case addCollection(name: String, description: String?)
        case addField(collection: String, field: String, type: String, values: [String], targets: [String], description: String?)
        case addValue(collection: String, field: String, value: String)
        case addTarget(collection: String, field: String, target: String)
        case describe(collection: String, field: String?, label: String?, description: String?)
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
            guard isCollectionName(name) else {
                throw .refusedChange("'\(name)' is not a collection name: lower-case letters, digits and '_', at most \(Limits.nameBytes) bytes, not starting with '_', sync_, sqlite_ or grdb_, without _by_ and not ending with _new, _pending or _refuse (the store derives those names for its own indexes, queues and triggers)")
            }
            guard current.collection(name) == nil else { throw .refusedChange("collection '\(name)' exists already") }
            guard current.collections.count - 1 < Limits.collections else { throw .refusedChange("the schema has \(Limits.collections) collections, the most it may hold") }
            if let description, description.utf8.count > Limits.descriptionBytes {
                throw .refusedChange("a description is at most \(Limits.descriptionBytes) bytes; this one is \(description.utf8.count)")
            }
            return Writes(record: "c.\(name)", scalars: [("description", description.map(Value.text) ?? .null)], members: [])
        case .addField(let collectionName, let fieldName, let typeText, let values, let targets, let description):
            let collection = try current.requireCollection(collectionName)
            guard collectionName != Self.collection else { throw .refusedChange("'\(Self.collection)' holds the schema itself; it takes no fields") }
            if let existing = collection.field(fieldName) {
                let hint = existing.type == .enumeration ? "; to allow more values use `syncctl schema add-value`" : ""
                throw .refusedChange("field '\(collectionName).\(fieldName)' exists already as \(Self.typeText(existing)); a type is never changed: add a field under a new name and move the values with `syncctl export`/`import`\(hint)")
            }
            guard isFieldName(fieldName) else {
                throw .refusedChange("'\(fieldName)' is not a field name: lower-case letters, digits and '_', not starting with '_', at most \(Limits.nameBytes) bytes; 'id' and 'conflicted' are reserved")
            }
            guard collection.fields.count < Limits.fieldsPerCollection else {
                throw .refusedChange("'\(collectionName)' has \(Limits.fieldsPerCollection) fields, the most a collection may hold")
            }
            guard values.count <= Limits.listEntries, targets.count <= Limits.listEntries else {
                throw .refusedChange("at most \(Limits.listEntries) values or targets")
            }
            guard let kind = kind(typeText) else {
                throw .refusedChange("'\(typeText)' is not a type: use text, integer, decimal, date, bool, enum, ref, set:text or set:ref")
            }
            if kind.type == .enumeration, values.isEmpty { throw .refusedChange("an enum field needs --values") }
            if let long = values.first(where: { $0.utf8.count > Limits.valueBytes || $0.isEmpty }) {
                throw .refusedChange("an enum value is 1 to \(Limits.valueBytes) bytes; '\(long.prefix(40))…' is \(long.utf8.count)")
            }
            if kind.needsTargets {
                guard !targets.isEmpty else { throw .refusedChange("a reference field needs --targets") }
                for target in targets where current.collection(target) == nil {
                    throw .refusedChange("target collection '\(target)' is not in the schema")
                }
            }
            var scalars: [(String, Value)] = [("type", .text(typeText))]
            if kind.type == .enumeration { scalars.append(("values", .text(canonicalList(values)))) }
            if kind.needsTargets { scalars.append(("targets", .text(canonicalList(targets)))) }
            if let description {
                guard description.utf8.count <= Limits.descriptionBytes else {
                    throw .refusedChange("a description is at most \(Limits.descriptionBytes) bytes; this one is \(description.utf8.count)")
                }
                scalars.append(("description", .text(description)))
            }
            return Writes(record: "f.\(collectionName).\(fieldName)", scalars: scalars, members: [])
        case .addValue(let collectionName, let fieldName, let value):
            let field = try current.requireCollection(collectionName).requireField(fieldName)
            guard field.type == .enumeration else { throw .refusedChange("'\(collectionName).\(fieldName)' is not an enum") }
            guard (field.values?.count ?? 0) < Limits.listEntries else { throw .refusedChange("'\(collectionName).\(fieldName)' has \(Limits.listEntries) values, the most a field may hold") }
            guard !value.isEmpty, value.utf8.count <= Limits.valueBytes else {
                throw .refusedChange("an enum value is 1 to \(Limits.valueBytes) bytes; this one is \(value.utf8.count)")
            }
            guard !(field.values ?? []).contains(where: { UTF8Identity.equal($0, value) }) else {
                throw .refusedChange("'\(value)' is allowed already")
            }
            return Writes(record: "f.\(collectionName).\(fieldName)", scalars: [], members: [("more_values", value)])
        case .addTarget(let collectionName, let fieldName, let target):
            let field = try current.requireCollection(collectionName).requireField(fieldName)
            guard field.type == .ref || (field.type == .set && field.of == .ref) else { throw .refusedChange("'\(collectionName).\(fieldName)' is not a reference") }
            guard current.collection(target) != nil else { throw .refusedChange("target collection '\(target)' is not in the schema") }
            guard (field.targets?.count ?? 0) < Limits.listEntries else { throw .refusedChange("'\(collectionName).\(fieldName)' has \(Limits.listEntries) targets, the most a field may hold") }
            guard !(field.targets ?? []).contains(target) else { throw .refusedChange("'\(target)' is a target already") }
            return Writes(record: "f.\(collectionName).\(fieldName)", scalars: [], members: [("more_targets", target)])
        case .describe(let collectionName, let fieldName, let label, let description):
            let collection = try current.requireCollection(collectionName)
            guard label != nil || description != nil else { throw .refusedChange("give --label or --description (or both)") }
            if let label, !isLabel(label) {
                throw .refusedChange("a label is 1 to \(Limits.labelBytes) bytes on one line, without control or invisible characters")
            }
            if let description, description.utf8.count > Limits.descriptionBytes {
                throw .refusedChange("a description is at most \(Limits.descriptionBytes) bytes; this one is \(description.utf8.count)")
            }
            guard let fieldName else {
                guard label == nil else { throw .refusedChange("a collection has a description, not a label") }
                return Writes(record: "c.\(collectionName)", scalars: [("description", .text(description ?? ""))], members: [])
            }
            _ = try collection.requireField(fieldName)
            var scalars: [(String, Value)] = []
            if let label { scalars.append(("label", .text(label))) }
            if let description { scalars.append(("description", .text(description))) }
            return Writes(record: "f.\(collectionName).\(fieldName)", scalars: scalars, members: [])
        case .deprecateField(let collectionName, let fieldName):
            let field = try current.requireCollection(collectionName).requireField(fieldName)
            guard !field.isRequired else { throw .refusedChange("'\(collectionName).\(fieldName)' is required; a required field cannot be hidden") }
            guard !field.isDeprecated else { throw .refusedChange("'\(collectionName).\(fieldName)' is deprecated already") }
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
        CollectionViews.jsonArray(unique(items).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    /// A stored list, byte for byte (Foundation's parser would drop U+FEFF); empty when it is not one.
    /// Texts longer than this (a list of `Limits.listEntries` values of
    /// `Limits.valueBytes`, escaped) are not parsed: the field is withheld.
    static let maxListTextBytes = Limits.listEntries * (Limits.valueBytes * 6 + 3) + 2

    static func list(_ value: Value?) -> [String] {
        guard let text = value?.textValue, text.utf8.count <= maxListTextBytes else { return [] }
        return CollectionViews.parseEscapedJSONArray(Array(text.utf8)) ?? []
    }

    /// The values that differ, compared as values (text by its UTF-8 bytes).
    static func distinct(_ values: [Value]) -> [Value] {
        var out: [Value] = []
        for value in values where !out.contains(value) { out.append(value) }
        return out
    }

    /// The items without repeats (by bytes), first kept; linear.
    static func unique(_ items: [String]) -> [String] {
        var seen = Set<[UInt8]>()
        return items.filter { seen.insert(Array($0.utf8)).inserted }
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
    /// The same field with at most `count` values and targets (the first ones).
    func truncated(to count: Int) -> FieldSchema {
        FieldSchema(name: name, type: type, required: required, values: values.map { Array($0.prefix(count)) },
                    targets: targets.map { Array($0.prefix(count)) }, of: of, description: description, label: label, deprecated: deprecated)
    }

    /// The same field with more enum values or targets (never fewer) and
    /// perhaps a new label, description or deprecation.
    func adding(values more: [String], targets moreTargets: [String], label newLabel: String?, description newDescription: String?,
                deprecated newDeprecated: Bool?) -> FieldSchema {
        FieldSchema(name: name, type: type, required: required,
                    values: values.map { SchemaEvolution.unique($0 + (type == .enumeration ? more : [])) },
                    targets: targets.map { SchemaEvolution.unique($0 + moreTargets) }, of: of, description: newDescription ?? description,
                    label: newLabel ?? label, deprecated: newDeprecated ?? deprecated)
    }
}

extension Value {
    var textValue: String? { if case .text(let text) = self { text } else { nil } }
}
