import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// The database, not the files beside it, says which dataset it holds:
/// a stray, missing or foreign schema never opens one team's records as
/// another's, and a snapshot of another dataset is neither restored nor merged.
@Suite("Dataset lineage held by the database", .timeLimit(.minutes(3)))
struct DatasetHeldByDatabaseTests {
    static let schema = DataDirectoryDatasetTests.schema
    static let seed = DataDirectoryDatasetTests.seed
    let root = TemporaryDirectory()

    func file(_ name: String, _ text: String) throws -> String {
        try Data(text.utf8).write(to: root.url.appendingPathComponent(name))
        return root.path(name)
    }
    func directory(_ name: String) -> DataDirectory { DataDirectory(url: root.url.appendingPathComponent(name)) }

    /// A schema.json dropped into a directory whose database holds the shipped dataset is refused.
    @Test func aStraySchemaJsonDoesNotReLineageAShippedDatabase() throws {
        let data = directory("shipped")
        let (store, seeded) = try data.openStore(deviceID: nil)
        #expect(seeded)
        let shippedRecords = try store.recordCounts().values.reduce(0, +)
        #expect(shippedRecords > 0)
        try Data(Self.schema.utf8).write(to: URL(fileURLWithPath: data.schemaPath))
        try Data(Self.seed.utf8).write(to: URL(fileURLWithPath: data.seedPath))
        // Promise: "two datasets are never mixed" -> opening must be refused.
        let reopened = try? data.openStore(deviceID: nil)
        if let reopened {
            Issue.record("opened the shipped database as '\(reopened.store.seed.name)' (lineage sent at hello), holding \(shippedRecords) shipped seed records")
        }
    }

    /// Removing both files does not open another team's database as the shipped dataset.
    @Test func aTeamDatabaseIsNotOpenedAsShippedWhenBothFilesGo() throws {
        let data = directory("team")
        _ = try data.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: try file("seed-in.json", Self.seed))
        _ = try data.openStore(deviceID: nil)
        try FileManager.default.removeItem(atPath: data.schemaPath)
        try FileManager.default.removeItem(atPath: data.seedPath)
        if let reopened = try? data.openStore(deviceID: nil) {
            Issue.record("opened trade-desk's database as '\(reopened.store.seed.name)'")
        }
    }

    /// Snapshots do not cross datasets.
    @Test func aSnapshotOfAnotherLineageIsNotMerged() throws {
        let team = directory("team2")
        _ = try team.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: try file("seed-in.json", Self.seed))
        let (teamStore, _) = try team.openStore(deviceID: nil)
        let snapshot = root.url.appendingPathComponent("team.syncsnap")
        _ = try Snapshots.create(from: teamStore, to: snapshot)

        let shipped = directory("shipped2")
        let (store, _) = try shipped.openStore(deviceID: nil)
        let merged = try? Snapshots.merge(snapshot, into: store)
        if let merged {
            Issue.record("merged trade-desk's snapshot into critical-minerals: changed \(merged.changed), dot collisions \(merged.dotCollisions), schema problems \(merged.schemaProblems)")
        }
    }

    @Test func aSnapshotOfAnotherLineageIsNotRestored() throws {
        let team = directory("team3")
        _ = try team.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: try file("seed-in.json", Self.seed))
        let (teamStore, _) = try team.openStore(deviceID: nil)
        let snapshot = root.url.appendingPathComponent("team3.syncsnap")
        _ = try Snapshots.create(from: teamStore, to: snapshot)

        let shipped = directory("shipped3")
        _ = try shipped.openStore(deviceID: nil)
        if (try? Snapshots.restore(snapshot, into: shipped, deviceID: nil)) != nil {
            let reopened = try shipped.openStore(deviceID: nil)
            Issue.record("restored trade-desk's snapshot into a critical-minerals directory; it opens as '\(reopened.store.seed.name)' with \(try reopened.store.recordCounts())")
        }
    }

    /// schema.json present, seed.json absent, database new: refused, seeding left pending.
    @Test func aMissingSeedJsonIsNotSeededEmptySilently() throws {
        let data = directory("noseed")
        _ = try data.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: try file("seed-in.json", Self.seed))
        try FileManager.default.removeItem(atPath: data.seedPath)
        if let opened = try? data.openStore(deviceID: nil) {
            Issue.record("seeded=\(opened.seeded), records \(try opened.store.recordCounts().values.reduce(0, +)), seed-pending cleared: \(!data.seedPending)")
        }
        #expect(data.seedPending)
    }

    /// A database made before datasets were recorded holds the shipped
    /// one: opened under another team's schema it is refused, and a snapshot
    /// of it is not merged into another team's directory.
    @Test func anOldDatabaseHoldsTheShippedDataset() throws {
        let data = directory("old")
        let (store, _) = try data.openStore(deviceID: nil)
        let snapshot = root.url.appendingPathComponent("old.syncsnap")
        try DatabaseQueue(path: data.databasePath).write { db in try db.execute(sql: "DELETE FROM sync_meta WHERE key IN ('dataset', 'view_tables')") }
        _ = try Snapshots.create(from: store, to: snapshot)
        try Data(Self.schema.utf8).write(to: URL(fileURLWithPath: data.schemaPath))
        try Data(Self.seed.utf8).write(to: URL(fileURLWithPath: data.seedPath))
        #expect(throws: (any Error).self) { _ = try data.openStore(deviceID: nil) }
        try FileManager.default.removeItem(atPath: data.schemaPath)
        try FileManager.default.removeItem(atPath: data.seedPath)
        #expect(try data.openStore(deviceID: nil).store.seed.name == SchemaLineage.shipped)

        let team = directory("team-old")
        _ = try team.startDataset(schemaFile: try file("team.json", Self.schema), seedFile: try file("seed-in.json", Self.seed))
        let (teamStore, _) = try team.openStore(deviceID: nil)
        #expect(throws: SnapshotError.self) { _ = try Snapshots.merge(snapshot, into: teamStore) }
    }
}
