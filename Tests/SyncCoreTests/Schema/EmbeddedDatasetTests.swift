import Foundation
import Testing
@testable import SyncCore

@Suite("Shipped schema and seed", .timeLimit(.minutes(3)))
struct EmbeddedDatasetTests {
    static let configDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Config")

    @Test func theEmbeddedCopyMatchesConfig() throws {
        let schema = try String(contentsOf: Self.configDirectory.appendingPathComponent("schema.json"), encoding: .utf8)
        let seed = try String(contentsOf: Self.configDirectory.appendingPathComponent("seed.json"), encoding: .utf8)
        // Run scripts/embed-dataset after editing Config/schema.json or Config/seed.json.
        #expect(EmbeddedDataset.schemaJSON == schema.trimmingCharacters(in: .newlines))
        #expect(EmbeddedDataset.seedJSON == seed.trimmingCharacters(in: .newlines))
    }

    @Test func theShippedSchemaHasTheSpecCollections() throws {
        let schema = try Schema.load(contentsOf: Self.configDirectory.appendingPathComponent("schema.json"))
        #expect(schema == .criticalMinerals)
        let agreements = try #require(schema.collection("agreements"))
        #expect(agreements.fields.map(\.name).starts(with: ["title", "kind", "parties", "minerals", "announced", "effective", "status"]))
        #expect(agreements.field("kind")?.values == ["initiative", "concession", "infrastructure-for-minerals", "supply", "export-control", "license", "trade-truce", "declaration"])
        #expect(schema.collection("minerals")?.field("uses")?.isSet == true)
        #expect(schema.hash.count == 64)
    }

    @Test func badSchemaFilesAreRefusedWithTheReason() {
        func reason(_ json: String) -> String {
            do { _ = try Schema.parse(Data(json.utf8), source: "test.json"); return "" } catch { return "\(error)" }
        }
        #expect(reason(#"{"name":"x","version":1,"collections":[{"name":"a","fields":[{"name":"k","type":"enum"}]}]}"#).contains("needs a non-empty \"values\" list"))
        #expect(reason(#"{"name":"x","version":1,"collections":[{"name":"a","fields":[{"name":"r","type":"ref","targets":["nowhere"]}]}]}"#).contains("unknown collection 'nowhere'"))
        #expect(reason(#"{"name":"x","version":1,"collections":[{"name":"sync_x","fields":[]}]}"#).contains("sync_"))
        #expect(reason(#"{"name":"x","collections":[]}"#).contains("missing key 'version'"))
        #expect(reason(#"{"name":"x","version":1,"collections":[{"name":"a","fields":[{"name":"id","type":"text"}]}]}"#).contains("reserved"))
    }

    @Test func datesAndDecimalsAreChecked() {
        #expect(FieldSchema.isDate("2025-11-23"))
        #expect(FieldSchema.isDate("2024-02-29"))
        #expect(!FieldSchema.isDate("2025-02-29"))
        #expect(FieldSchema.isDate("2025-10"))
        #expect(FieldSchema.isDate("2025"))
        #expect(!FieldSchema.isDate("2025-13"))
        #expect(!FieldSchema.isDate("23/11/2025"))
        #expect(FieldSchema.isDecimal("-12.50"))
        #expect(!FieldSchema.isDecimal("12."))
        #expect(!FieldSchema.isDecimal("1e3"))
    }
}
