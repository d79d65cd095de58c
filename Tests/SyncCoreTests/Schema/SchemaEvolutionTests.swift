import Foundation
import PropertyBased
import Testing
@testable import SyncCore
import SyncSimulation

/// The schema as replicated records: additions merge like data, conflicting
/// definitions are withheld and reported, and only additive changes are planned.
@Suite("Schema evolution")
struct SchemaEvolutionTests {
    static let seed = Schema.criticalMinerals

    /// The record a plan writes, as a replica holding only that write reads it.
    static func record(_ writes: SchemaEvolution.Writes) -> SchemaEvolution.Record {
        var record = SchemaEvolution.Record(id: writes.record)
        for (field, value) in writes.scalars { record.scalars[field, default: []].append(value) }
        for (field, member) in writes.members { record.sets[field, default: []].append(member) }
        return record
    }

    static func plan(_ change: SchemaEvolution.Change, _ schema: Schema = seed) throws -> SchemaEvolution.Record {
        record(try SchemaEvolution.plan(change, against: schema))
    }

    @Test func withoutRecordsTheSeedIsTheSchema() {
        let effective = SchemaEvolution.effective(seed: Self.seed, records: [])
        #expect(effective.schema.tableCollections == Self.seed.collections && effective.problems.isEmpty)
        #expect(effective.schema.collections.last == SchemaEvolution.definition)
    }

    @Test func addedFieldsAndCollectionsAppear() throws {
        let field = try Self.plan(.addField(collection: "agreements", field: "value_usd", type: "decimal", values: [], targets: [], description: "Headline value"))
        let mines = try Self.plan(.addCollection(name: "mines", description: "Mines and deposits"))
        let withMines = SchemaEvolution.effective(seed: Self.seed, records: [mines]).schema
        let site = try Self.plan(.addField(collection: "mines", field: "country", type: "ref", values: [], targets: ["countries"], description: nil), withMines)
        let stage = try Self.plan(.addField(collection: "mines", field: "stage", type: "enum", values: ["producing", "exploration", "producing"], targets: [], description: nil), withMines)
        let effective = SchemaEvolution.effective(seed: Self.seed, records: [stage, field, site, mines])
        #expect(effective.problems.isEmpty)
        #expect(effective.schema.collection("agreements")?.field("value_usd")?.type == .decimal)
        #expect(effective.schema.collection("agreements")?.fields.last?.name == "value_usd")
        #expect(effective.schema.collection("mines")?.field("country")?.targets == ["countries"])
        #expect(effective.schema.collection("mines")?.field("stage")?.values == ["exploration", "producing"])
        #expect(effective.schema.hash != Self.seed.hash)
    }

    /// Two replicas adding the same field with different types, or the same
    /// enum with different lists, conflict; the same addition twice does not.
    @Test func disagreeingAdditionsConflictAndAgreeingOnesDoNot() throws {
        let asText = try SchemaEvolution.plan(.addField(collection: "agreements", field: "value_usd", type: "text", values: [], targets: [], description: nil), against: Self.seed)
        let asDecimal = try SchemaEvolution.plan(.addField(collection: "agreements", field: "value_usd", type: "decimal", values: [], targets: [], description: nil), against: Self.seed)
        var merged = Self.record(asText)
        merged.scalars["type"]! += [asDecimal.scalars[0].1]
        let conflict = SchemaEvolution.effective(seed: Self.seed, records: [merged])
        #expect(conflict.schema.collection("agreements")?.field("value_usd") == nil)
        #expect(conflict.problems.count == 1 && conflict.problems[0].isConflict && conflict.problems[0].field == "type")

        let one = try SchemaEvolution.plan(.addField(collection: "countries", field: "status", type: "enum", values: ["a", "b"], targets: [], description: nil), against: Self.seed)
        let same = try SchemaEvolution.plan(.addField(collection: "countries", field: "status", type: "enum", values: ["b", "a"], targets: [], description: nil), against: Self.seed)
        let other = try SchemaEvolution.plan(.addField(collection: "countries", field: "status", type: "enum", values: ["a", "c"], targets: [], description: nil), against: Self.seed)
        #expect(one == same)
        var twice = Self.record(one)
        twice.scalars["values"]! += [same.scalars[1].1]
        twice.scalars["type"]! += [same.scalars[0].1]
        #expect(SchemaEvolution.effective(seed: Self.seed, records: [twice]).problems.isEmpty)
        var differing = Self.record(one)
        differing.scalars["values"]! += [other.scalars[1].1]
        let listConflict = SchemaEvolution.effective(seed: Self.seed, records: [differing])
        #expect(listConflict.problems.map(\.field) == ["values"] && listConflict.schema.collection("countries")?.field("status") == nil)
    }

    @Test func valuesAndTargetsOnlyGrowAndConcurrentAdditionsAllArrive() throws {
        var region = try Self.plan(.addValue(collection: "countries", field: "region", value: "arctic"))
        region.sets["more_values"]!.append("antarctica")
        let effective = SchemaEvolution.effective(seed: Self.seed, records: [region])
        let values = try #require(effective.schema.collection("countries")?.field("region")?.values)
        #expect(values.suffix(2) == ["arctic", "antarctica"] && values.count == (Self.seed.collection("countries")?.field("region")?.values?.count ?? 0) + 2)
        #expect(throws: SchemaError.self) { try SchemaEvolution.plan(.addValue(collection: "countries", field: "region", value: "asia"), against: Self.seed) }
    }

    @Test func whatIsNotAdditiveIsRefusedWithWhatToDo() {
        func refused(_ change: SchemaEvolution.Change) -> String {
            do { _ = try SchemaEvolution.plan(change, against: Self.seed); return "" } catch { return error.description }
        }
        #expect(refused(.addField(collection: "countries", field: "name", type: "integer", values: [], targets: [], description: nil)).contains("a type is never changed"))
        #expect(refused(.addField(collection: "countries", field: "region", type: "enum", values: ["x"], targets: [], description: nil)).contains("add-value"))
        #expect(refused(.addField(collection: "countries", field: "Bad Name", type: "text", values: [], targets: [], description: nil)).contains("not a field name"))
        #expect(refused(.addField(collection: "countries", field: "x", type: "float", values: [], targets: [], description: nil)).contains("is not a type"))
        #expect(refused(.addField(collection: "countries", field: "x", type: "ref", values: [], targets: ["nowhere"], description: nil)).contains("not in the schema"))
        #expect(refused(.addCollection(name: "countries", description: nil)).contains("exists already"))
        #expect(refused(.addCollection(name: "_private", description: nil)).contains("not a collection name"))
        #expect(refused(.deprecateField(collection: "countries", field: "name")).contains("required"))
        #expect(refused(.addTarget(collection: "countries", field: "notes", target: "countries")).contains("not a reference"))
        #expect(refused(.addValue(collection: "countries", field: "region", value: String(repeating: "x", count: 257))).contains("1 to 256 bytes"))
        let deprecated = SchemaEvolution.effective(seed: Self.seed, records: [try! Self.plan(.deprecateField(collection: "countries", field: "notes"))]).schema
        do { _ = try SchemaEvolution.plan(.deprecateField(collection: "countries", field: "notes"), against: deprecated); Issue.record("deprecated twice") } catch {
            #expect(error.description.contains("deprecated already"))
        }
    }

    @Test func aRecordThatRetypesASeedFieldIsWithheld() {
        let record = SchemaEvolution.Record(id: "f.countries.name", scalars: ["type": [.text("integer")]])
        let effective = SchemaEvolution.effective(seed: Self.seed, records: [record])
        #expect(effective.schema.collection("countries")?.field("name")?.type == .text)
        #expect(effective.problems.first?.reason.contains("never changed") == true)
    }

    @Test func deprecatedFieldsAreKept() throws {
        let record = try Self.plan(.deprecateField(collection: "countries", field: "notes"))
        let effective = SchemaEvolution.effective(seed: Self.seed, records: [record])
        #expect(effective.schema.collection("countries")?.field("notes") != nil)
        #expect(effective.schema.collection("countries")?.field("notes")?.isDeprecated == true)
    }

    /// A disagreement on a label, a description or a deprecation is an
    /// ordinary conflict: it withholds nothing, and every replica shows the
    /// same (greatest by bytes) meanwhile.
    @Test func harmlessConflictsWithholdNothing() throws {
        var record = try Self.plan(.addField(collection: "agreements", field: "value_usd", type: "decimal", values: [], targets: [], description: "b"))
        record.scalars["description"] = [.text("b"), .text("a")]
        record.scalars["label"] = [.text("Value"), .text("USD")]
        record.scalars["deprecated"] = [.bool(false), .bool(true)]
        let field = try #require(SchemaEvolution.effective(seed: Self.seed, records: [record]).schema.collection("agreements")?.field("value_usd"))
        #expect(field.description == "b" && field.label == "Value" && field.isDeprecated)
        var collection = try Self.plan(.addCollection(name: "mines", description: "x"))
        collection.scalars["description"] = [.text("x"), .text("y")]
        #expect(SchemaEvolution.effective(seed: Self.seed, records: [collection]).schema.collection("mines")?.description == "y")
    }

    /// Names a peer chooses cannot reach the store's own objects, and a
    /// name taken in this file by something the store did not make is left alone.
    @Test func reservedTakenAndOversizedNamesAreWithheld() {
        let names = ["grdb_migrations", "sqlite_x", "sync_records", "_schema", "a" + String(repeating: "b", count: 64), "Mines", "mines.x", "analyst_notes"]
        let records = names.map { SchemaEvolution.Record(id: "c.\($0)", scalars: [:]) }
        let effective = SchemaEvolution.effective(seed: Self.seed, records: records, unavailable: [Array("analyst_notes".utf8)])
        #expect(effective.schema.tableCollections.map(\.name) == Self.seed.collections.map(\.name))
        #expect(effective.problems.count == names.count)
    }

    /// Bounds: a peer cannot grow the schema without limit.
    @Test func boundsHold() {
        let many = (0..<100).map { SchemaEvolution.Record(id: "c.extra\($0)", scalars: [:]) }
        let effective = SchemaEvolution.effective(seed: Self.seed, records: many)
        #expect(effective.schema.tableCollections.count == SchemaEvolution.Limits.collections)
        let values = SchemaEvolution.canonicalList((0...SchemaEvolution.Limits.listEntries).map { "v\($0)" })
        let big = SchemaEvolution.Record(id: "f.countries.size", scalars: ["type": [.text("enum")], "values": [.text(values)]])
        #expect(SchemaEvolution.effective(seed: Self.seed, records: [big]).schema.collection("countries")?.field("size") == nil)
    }

    /// A peer's label that could pose as another name, or an oversized
    /// description, is not shown as it stands, alike on every replica.
    @Test func labelsAndDescriptionsAreBounded() throws {
        let record = SchemaEvolution.Record(id: "f.countries.notes", scalars: ["label": [.text("status\n\u{202E}evil")], "description": [.text(String(repeating: "é", count: 2_000))]])
        let effective = SchemaEvolution.effective(seed: Self.seed, records: [record])
        let field = try #require(effective.schema.collection("countries")?.field("notes"))
        #expect(field.label == nil && (field.description?.utf8.count ?? 0) == SchemaEvolution.Limits.descriptionBytes)
        #expect(effective.problems.map(\.field) == ["label"])
        #expect(throws: SchemaError.self) { try SchemaEvolution.plan(.describe(collection: "countries", field: "notes", label: "a\u{200B}b", description: nil), against: Self.seed) }
    }

    /// Lists keep their bytes: U+FEFF and NFC/NFD spellings are distinct values.
    @Test func listsKeepTheirBytes() throws {
        let values = ["\u{FEFF}a", "é", "e\u{301}"]
        let record = SchemaEvolution.Record(id: "f.countries.mark", scalars: ["type": [.text("enum")], "values": [.text(SchemaEvolution.canonicalList(values))]])
        let field = try #require(SchemaEvolution.effective(seed: Self.seed, records: [record]).schema.collection("countries")?.field("mark"))
        #expect(field.values?.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) } == values.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
    }

    /// Every replica that holds the same records computes the same schema,
    /// whatever order it read them in.
    @Test func theSchemaDoesNotDependOnTheOrderOfRecords() async throws {
        let mines = try Self.plan(.addCollection(name: "mines", description: nil))
        let withMines = SchemaEvolution.effective(seed: Self.seed, records: [mines]).schema
        let pool = [mines,
                    try Self.plan(.addField(collection: "mines", field: "name", type: "text", values: [], targets: [], description: nil), withMines),
                    try Self.plan(.addField(collection: "mines", field: "owner", type: "set:ref", values: [], targets: ["organizations"], description: nil), withMines),
                    try Self.plan(.addField(collection: "agreements", field: "value_usd", type: "decimal", values: [], targets: [], description: nil)),
                    try Self.plan(.addValue(collection: "minerals", field: "category", value: "strategic")),
                    SchemaEvolution.Record(id: "bogus")]
        let reference = SchemaEvolution.effective(seed: Self.seed, records: pool)
        #expect(reference.problems.count == 1)
        await propertyCheck(count: 50, input: Gen.int(in: 0...1_000_000)) { seed in
            var generator = SeededRandom(seed: UInt64(seed))
            let shuffled = pool.shuffled(using: &generator)
            #expect(SchemaEvolution.effective(seed: Self.seed, records: shuffled) == reference)
        }
    }
}

