import Foundation
import Testing
@testable import SyncCore
import TestSupport

@Suite("Seed dots belong to records, not to positions (replication-model §8)", .timeLimit(.minutes(3)))
struct SeedDotTests {
    private func seed(_ records: String) throws -> SeedData {
        try SeedData.parse(Data("{\"records\": [\(records)]}".utf8), schema: .criticalMinerals, source: "test")
    }

    private func dots(_ seed: SeedData) -> [String: Dot] {
        var found: [String: Dot] = [:]
        for change in seed.slotChanges() where change.key.field == SlotKey.existsField {
            found[change.key.recordRef.description] = change.state.versions.first?.dot
        }
        return found
    }

    @Test func insertingARecordChangesNoOtherRecordsDot() throws {
        let before = try seed("""
            {"dot": 1, "ref": "countries/aa", "fields": {"name": "A"}},
            {"dot": 2, "ref": "countries/bb", "fields": {"name": "B"}}
            """)
        let after = try seed("""
            {"dot": 3, "ref": "countries/new", "fields": {"name": "New"}},
            {"dot": 1, "ref": "countries/aa", "fields": {"name": "A"}},
            {"dot": 2, "ref": "countries/bb", "fields": {"name": "B"}}
            """)
        let old = dots(before), new = dots(after)
        #expect(old["countries/aa"] == new["countries/aa"])
        #expect(old["countries/bb"] == new["countries/bb"])
        #expect(new["countries/new"] == Dot(replica: .seed, counter: 3))
        // Replicas seeded by the two releases agree on every slot they share.
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(before)
        try b.seed(after)
        _ = try pull(into: a, from: b)
        _ = try pull(into: b, from: a)
        #expect(try a.digest() == b.digest())
        #expect(try a.dotCollisions().isEmpty && a.conflicts().isEmpty)
    }

    @Test func aMissingOrRepeatedDotIsRefused() {
        #expect(throws: SchemaError.self) { try seed(#"{"ref": "countries/aa", "fields": {"name": "A"}}"#) }
        #expect(throws: SchemaError.self) {
            try seed(#"{"dot": 1, "ref": "countries/aa", "fields": {"name": "A"}}, {"dot": 1, "ref": "countries/bb", "fields": {"name": "B"}}"#)
        }
    }

    @Test func theShippedSeedKeepsTheDotsItAlwaysHad() throws {
        // Before dots were written in the file, record i (from 0) had counter i + 1.
        let seed = try SeedData.criticalMinerals()
        for (index, record) in seed.records.enumerated() { #expect(record.counter == UInt64(index + 1), "\(record.ref)") }
    }
}
