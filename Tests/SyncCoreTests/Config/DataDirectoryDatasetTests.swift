import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// Another team's dataset in a data directory (docs/operations.md,
/// "Another team's dataset"): the seed schema and records are checked before
/// anything is made, kept in the directory, and never swapped for the shipped ones.
@Suite("A data directory's dataset", .timeLimit(.minutes(3)))
struct DataDirectoryDatasetTests {
    static let schema = #"""
        {"name": "trade-desk", "version": 1, "collections": [
          {"name": "shipments", "fields": [{"name": "name", "type": "text", "required": true}, {"name": "tonnes", "type": "integer"}]}]}
        """#
    static let seed = #"{"records": [{"dot": 1, "ref": "shipments/first", "fields": {"name": "First", "tonnes": 12}}]}"#

    let root = TemporaryDirectory()

    func file(_ name: String, _ text: String) throws -> String {
        try Data(text.utf8).write(to: root.url.appendingPathComponent(name))
        return root.path(name)
    }

    func directory(_ name: String = "data") -> DataDirectory { DataDirectory(url: root.url.appendingPathComponent(name)) }

    @Test func aNewDirectoryKeepsTheSchemaAndSeedsFromIt() throws {
        let data = directory()
        #expect(try data.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: try file("seed.json", Self.seed)) == .started)
        #expect(try data.seedSchema().name == "trade-desk")
        let (store, seeded) = try data.openStore(deviceID: nil)
        #expect(seeded && !data.seedPending)
        #expect(store.seed.name == "trade-desk")
        #expect(try store.recordCounts() == ["shipments": 1])
        // Opened again: not seeded again.
        #expect(try data.openStore(deviceID: nil).seeded == false)
        // The same schema again changes nothing; another is refused, naming both datasets.
        #expect(try data.startDataset(schemaFile: root.path("team.json"), seedFile: nil) == .alreadyHeld)
        let other = try file("other.json", Self.schema.replacingOccurrences(of: "trade-desk", with: "field-notes"))
        let refusal = try #require(throws: DatasetError.self) { try data.startDataset(schemaFile: other, seedFile: nil) }
        #expect("\(refusal)".contains("already holds the dataset 'trade-desk'") && "\(refusal)".contains("'field-notes'"))
        // Same name, other content: refused too (a dataset keeps its seed schema).
        let changed = try file("v2.json", Self.schema.replacingOccurrences(of: "\"version\": 1", with: "\"version\": 2"))
        let version = try #require(throws: DatasetError.self) { try data.startDataset(schemaFile: changed, seedFile: nil) }
        #expect("\(version)".contains("another version of its schema"))
        #expect(try data.seedSchema().name == "trade-desk")
    }

    @Test func withoutSeedTheDatasetStartsEmpty() throws {
        let data = directory()
        _ = try data.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: nil)
        let (store, seeded) = try data.openStore(deviceID: nil)
        #expect(seeded && store.seed.name == "trade-desk")
        #expect(try store.recordCounts().values.reduce(0, +) == 0)
        // schema.json removed later: noticed (by the empty seed.json), never opened as the shipped dataset.
        try FileManager.default.removeItem(atPath: data.schemaPath)
        let missing = try #require(throws: DatasetError.self) { try data.openStore(deviceID: nil) }
        #expect("\(missing)".contains("put that schema file back"))
    }

    @Test func theShippedDatasetIsNotMovedToAnother() throws {
        let data = directory()
        let (store, seeded) = try data.openStore(deviceID: nil)
        let countries = try store.recordCounts()["countries"] ?? 0
        #expect(seeded && store.seed == .criticalMinerals && countries > 0)
        let refusal = try #require(throws: DatasetError.self) {
            try data.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: nil)
        }
        #expect("\(refusal)".contains("'critical-minerals' (the shipped one)"))
        #expect(!FileManager.default.fileExists(atPath: data.schemaPath))
        // The shipped schema itself names the dataset it holds.
        #expect(try data.startDataset(schemaFile: try file("shipped.json", EmbeddedDataset.schemaJSON), seedFile: nil) == .alreadyHeld)
    }

    /// Nothing is made before both files are checked.
    @Test func aDamagedOrUnfitFileLeavesNoDirectory() throws {
        let cases: [(schema: String, seed: String?, says: String)] = [
            (#"{"name": "trade-desk", "version": 1, "collections": [{"name": "shipments""#, nil, "team.json is invalid"),
            (Self.schema.replacingOccurrences(of: "\"shipments\"", with: "\"_shipments\""), nil, "not start with '_'"),
            (Self.schema.replacingOccurrences(of: "trade-desk", with: String(repeating: "t", count: 257)), nil, "1 to 256 bytes"),
            (Self.schema.replacingOccurrences(of: "trade-desk", with: ""), nil, "1 to 256 bytes"),
            (Self.schema.replacingOccurrences(of: "trade-desk", with: "trade\\ndesk"), nil, "control character"),
            (Self.schema, #"{"records": [{"dot": 1, "ref": "countries/cn", "fields": {"name": "China"}}]}"#, "unknown collection 'countries'"),
            (Self.schema, #"{"records": [{"ref": "shipments/a", "fields": {"name": "A"}}]}"#, "needs its own \"dot\""),
        ]
        for (index, given) in cases.enumerated() {
            let data = directory("case-\(index)")
            let error = try #require(throws: (any Error).self) {
                try data.startDataset(schemaFile: try file("team.json", given.schema), seedFile: try given.seed.map { try file("seed.json", $0) })
            }
            #expect("\(error)".contains(given.says), "\(error)")
            #expect(!FileManager.default.fileExists(atPath: data.path), "case \(index) left \(data.path)")
        }
        let missing = directory("missing")
        #expect(throws: DatasetError.self) { try missing.startDataset(schemaFile: root.path("nowhere.json"), seedFile: nil) }
        #expect(!FileManager.default.fileExists(atPath: missing.path))
    }

    /// What is in the directory decides the schema; a damaged or missing
    /// schema file is never read as the shipped one.
    @Test func aDamagedSchemaFileIsAnErrorNamingIt() throws {
        let data = directory()
        _ = try data.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: try file("seed.json", Self.seed))
        _ = try data.openStore(deviceID: nil)
        try Data("{".utf8).write(to: URL(fileURLWithPath: data.schemaPath))
        let damaged = try #require(throws: DatasetError.self) { try data.seedSchema() }
        #expect("\(damaged)".contains(data.schemaPath))
        #expect(throws: DatasetError.self) { try data.openStore(deviceID: nil) }
        // Removed, with its seed beside it: refused too.
        try FileManager.default.removeItem(atPath: data.schemaPath)
        let missing = try #require(throws: DatasetError.self) { try data.seedSchema() }
        #expect("\(missing)".contains("seed.json but no schema.json"))
    }

    /// A start cut short after `seed.json` and before `schema.json` holds no
    /// dataset yet: it is refused until `init --schema` runs again, which finishes it.
    @Test func aStartCutShortBeforeTheSchemaIsRefusedThenRedone() throws {
        let data = directory()
        try data.create()
        try Data(Self.seed.utf8).write(to: URL(fileURLWithPath: data.seedPath))
        let refusal = try #require(throws: DatasetError.self) { try data.openStore(deviceID: nil) }
        #expect("\(refusal)".contains("was cut short"))
        #expect(!data.databaseExists)
        // Again without --seed: the stale seed must not seed the new dataset.
        #expect(try data.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: nil) == .started)
        #expect(try Data(contentsOf: URL(fileURLWithPath: data.seedPath)) == DataDirectory.emptySeed)
        #expect(try data.openStore(deviceID: nil).store.recordCounts().values.reduce(0, +) == 0)
    }

    /// A database created but not seeded (a crash, a full disk) gets its seed at the next open.
    @Test func aSeedingCutShortIsDoneAtTheNextOpen() throws {
        for shipped in [true, false] {
            let data = directory(shipped ? "shipped" : "team")
            if !shipped { _ = try data.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: try file("seed.json", Self.seed)) }
            try data.create()
            // What openStore leaves when it stops between creating the database and seeding it.
            try Data().write(to: URL(fileURLWithPath: data.seedPendingPath))
            _ = try Store(path: data.databasePath, schema: try data.seedSchema())
            let (store, seeded) = try data.openStore(deviceID: nil)
            #expect(seeded && !data.seedPending)
            let records = try store.recordCounts()[shipped ? "countries" : "shipments"] ?? 0
            #expect(records > 0)
            let digest = try store.digest()
            // Seeding again (the mark's removal lost) changes nothing.
            try Data().write(to: URL(fileURLWithPath: data.seedPendingPath))
            #expect(try data.openStore(deviceID: nil).store.digest() == digest)
        }
    }

    @Test func seedWithoutSchemaIsRefused() throws {
        let data = directory()
        let error = try #require(throws: DatasetError.self) {
            try DataDirectory.initialize(data, configPath: data.configPath, defaults: .machineDefaults(), listen: nil, seedFile: try file("seed.json", Self.seed))
        }
        #expect("\(error)".contains("--seed goes with --schema"))
        #expect(!FileManager.default.fileExists(atPath: data.path))
    }
}
