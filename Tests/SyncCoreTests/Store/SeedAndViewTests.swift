import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

@Suite("Seed data and plain SQL views", .timeLimit(.minutes(3)))
struct SeedAndViewTests {
    @Test func theSeedHoldsTheDocumentsRecords() throws {
        let seed = try SeedData.criticalMinerals()
        #expect((50...80).contains(seed.records.count))
        let collections = Set(seed.records.map(\.ref.collection))
        #expect(collections.isSuperset(of: ["countries", "minerals", "organizations", "agreements", "sources"]))
        let kinds = Set(seed.records.compactMap { record -> String? in
            for case .set("kind", .text(let kind)) in record.edits where record.ref.collection == "agreements" { return kind }
            return nil
        })
        #expect(kinds.isSuperset(of: ["initiative", "export-control", "license", "trade-truce", "declaration", "concession", "supply", "infrastructure-for-minerals"]))
    }

    @Test func replicasSeededApartAreIdentical() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        let b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try b.seed(SeedData.criticalMinerals())
        #expect(try a.digest() == b.digest())
        #expect(try a.replicaID != b.replicaID)
        #expect(try a.digest().hex != StateDigest(buckets: Array(repeating: Array(repeating: 0, count: 16), count: 256)).hex)
    }

    @Test func seedingTwiceChangesNothing() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let first = try store.seed(SeedData.criticalMinerals())
        let seq = try store.highestSeq()
        let second = try store.seed(SeedData.criticalMinerals())
        #expect(first.changed > 0)
        #expect(second.changed == 0)
        #expect(second.unchanged == first.changed)
        #expect(try store.highestSeq() == seq)
    }

    @Test func viewsAreReadableWithTheSqlite3Shell() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.seed(SeedData.criticalMinerals())
        try store.update(ref("agreements/green-minerals-initiative"), [.set("status", .text("active"))], author: "ana")
        let output = try runSQLite(dir.path("data.db"), "select status, conflicted, json_array_length(parties) from agreements where id = 'green-minerals-initiative'")
        #expect(output == "active|0|6")
        let countries = try runSQLite(dir.path("data.db"), "select count(*) from countries")
        #expect(countries == "15")
    }

    @Test func deletedRecordsLeaveTheViewAndConflictsShowInIt() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        let b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try b.seed(SeedData.criticalMinerals())
        try a.delete(ref("countries/ie"), author: "ana")
        #expect(try a.list("countries").count == 14)
        try a.update(ref("countries/fr"), [.set("notes", .text("A"))], author: "ana")
        try b.update(ref("countries/fr"), [.set("notes", .text("B"))], author: "ben")
        try pull(into: a, from: b)
        let row = try a.list("countries", conflictedOnly: true)
        #expect(row.map(\.ref.id) == ["fr"])
    }

    func runSQLite(_ path: String, _ sql: String) throws -> String {
        try SQLiteShell.run(path, sql).stdout
    }
}
