import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// `syncctl check` makes the digest again from the states (`DigestRecount`)
/// and `--repair` writes the buckets that are not theirs again: a replica
/// whose recorded digest is not its states' is never seen equal to a peer
/// (replication-model §4.5).
@Suite("Digest recount and repair", .timeLimit(.minutes(3)))
struct DigestRecountTests {
    func pair(_ dir: TemporaryDirectory) throws -> (a: Store, b: Store) {
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        try b.update(ref("countries/cn"), [.set("notes", .text("from b"))], author: "ben")
        try pull(into: a, from: b)
        #expect(try a.digest() == b.digest())
        return (a, b)
    }

    @Test func aStoreWrittenBySyncdRecountsClean() throws {
        let dir = TemporaryDirectory()
        let (a, _) = try pair(dir)
        let recount = try a.recountDigest()
        #expect(recount.isClean && recount.slots > 100, "\(recount)")
        // Its SQL-edit queues and triggers are syncd's own: no layout problem.
        #expect(try a.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sync_sql_%'") ?? 0 } > 0)
        #expect(try a.layoutProblems().isEmpty)
        #expect(try a.repairDigest() == recount)
    }

    /// Buckets written behind the store's back (another digest, a row of
    /// the wrong size, a row gone) are named; the repair writes exactly
    /// those, after which the replica is equal to its peer again and the
    /// buckets add up to the states.
    @Test func bucketsWrittenOutsideTheStoreAreNamedAndWrittenAgain() throws {
        let dir = TemporaryDirectory()
        let (a, b) = try pair(dir)
        let nonEmpty = try a.read { db in try Int.fetchAll(db, sql: "SELECT bucket FROM sync_buckets WHERE digest != zeroblob(16) ORDER BY bucket LIMIT 3") }
        try #require(nonEmpty.count == 3)
        try a.withWriteTransaction { db in
            try db.execute(sql: "UPDATE sync_buckets SET digest = zeroblob(16) WHERE bucket = ?", arguments: [nonEmpty[0]])
            try db.execute(sql: "UPDATE sync_buckets SET digest = x'00' WHERE bucket = ?", arguments: [nonEmpty[1]])
            try db.execute(sql: "DELETE FROM sync_buckets WHERE bucket = ?", arguments: [nonEmpty[2]])
        }
        #expect(try a.digest() != b.digest())
        #expect(try a.recountDigest().differingBuckets == nonEmpty)
        #expect(try a.repairDigest().differingBuckets == nonEmpty)
        #expect(try a.recountDigest().isClean)
        #expect(try a.digest() == b.digest())
        try DigestBookkeepingTests.checkBookkeeping(of: a)
    }

    /// A state changed in place (`sqlite3` on `sync_records`, same length):
    /// the recorded digest is still the one the peer has, but not the one
    /// the states make, which is what the recount goes by.
    @Test func aStateChangedInPlaceIsNamedByItsBucket() throws {
        let dir = TemporaryDirectory()
        let (a, _) = try pair(dir)
        try a.withWriteTransaction { db in
            var blob = try #require(try Data.fetchOne(db, sql: "SELECT slots FROM sync_records WHERE record = 'zw'"))
            let range = try #require(blob.range(of: Data("Zimbabwe".utf8)))
            blob.replaceSubrange(range, with: Data("Zimbabwa".utf8))
            try db.execute(sql: "UPDATE sync_records SET slots = ? WHERE record = 'zw'", arguments: [blob])
        }
        let recount = try a.recountDigest()
        #expect(recount.differingBuckets.count == 1, "\(recount)")
        _ = try a.repairDigest()
        try DigestBookkeepingTests.checkBookkeeping(of: a)
    }

    /// A bucket row numbered outside 0–255 reads in no digest, but snapshot
    /// verification and joiners refuse the file: named, and removed by the repair.
    @Test func aStrayBucketRowIsNamedAndRemoved() throws {
        let dir = TemporaryDirectory()
        let (a, b) = try pair(dir)
        try a.withWriteTransaction { db in try db.execute(sql: "INSERT INTO sync_buckets(bucket, digest) VALUES (300, zeroblob(16)), (-1, x'01')") }
        let recount = try a.recountDigest()
        #expect(recount.strayBucketRows == [-1, 300] && recount.differingBuckets.isEmpty && !recount.isClean, "\(recount)")
        #expect(try a.repairDigest().strayBucketRows == [-1, 300])
        #expect(try a.recountDigest().isClean)
        #expect(try a.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sync_buckets WHERE bucket NOT BETWEEN 0 AND 255") } == 0)
        #expect(try a.digest() == b.digest())
    }

    /// A second row of a record whose collection is a blob (GRDB would read
    /// it as the same text, and the two rows' hashes would cancel): named as
    /// a row syncd never writes, and the repair is refused, writing nothing.
    @Test func aRowSyncdNeverWritesRefusesTheRepair() throws {
        let dir = TemporaryDirectory()
        let (a, _) = try pair(dir)
        let before = try a.digest()
        try a.withWriteTransaction { db in
            try db.execute(sql: """
                INSERT INTO sync_records(collection, record, slots, slot_count, conflicted)
                SELECT CAST(collection AS BLOB), record, slots, slot_count, conflicted FROM sync_records WHERE record = 'zw'
                """)
            try db.execute(sql: "UPDATE sync_buckets SET digest = zeroblob(16) WHERE bucket = (SELECT min(bucket) FROM sync_buckets WHERE digest != zeroblob(16))")
        }
        let recount = try a.recountDigest()
        #expect(recount.unreadableRows.count == 1 && recount.unreadableRows[0].contains("its cells are not of the types syncd writes"), "\(recount)")
        #expect(recount.differingBuckets.count == 1, "the blob row's slots are not counted: only the zeroed bucket differs")
        let refusal = #expect(throws: DigestRepairRefusal.self) { try a.repairDigest() }
        #expect(refusal?.description.contains("snapshot restore") == true)
        #expect(try a.digest() != before, "nothing written: the zeroed bucket stays")
    }

    /// UNIQUE indexes of one's own on a collection table are named (made
    /// with CREATE INDEX, or a UNIQUE constraint of a table made again),
    /// but not syncd's own indexes nor one that takes in `id`, which can
    /// never hold two records' rows.
    @Test func uniqueIndexesOfOnesOwnAreNamedButNotOnesOnID() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        try a.seed(SeedData.criticalMinerals())
        try a.withWriteTransaction { db in
            try db.execute(sql: "CREATE UNIQUE INDEX by_id_and_name ON countries(id, name)")
            try db.execute(sql: "CREATE INDEX plain_names ON countries(name)")
        }
        #expect(try a.layoutProblems().isEmpty)
        try a.withWriteTransaction { db in try db.execute(sql: "CREATE UNIQUE INDEX by_name ON countries(name) WHERE name IS NOT NULL") }
        #expect(try a.layoutProblems().uniqueIndexes.count == 1)
        #expect(try a.layoutProblems().uniqueIndexes.first?.contains("by_name") == true)
        #expect(try a.layoutProblems().rulesOutRepair)
        try a.withWriteTransaction { db in try db.execute(sql: "DROP INDEX by_name") }
        #expect(try a.layoutProblems().isEmpty)
        // A UNIQUE constraint of a table made again is the table's
        // declaration (`CollectionTableCheck`, which makes it again), not an index to drop.
        let found = try a.withWriteTransaction { db in
            try db.execute(sql: "CREATE TABLE remade(id TEXT PRIMARY KEY, name TEXT, code TEXT, UNIQUE(name), UNIQUE(id, code))")
            return try Store.uniqueIndexProblems(db, tables: ["remade"])
        }
        #expect(found.isEmpty, "\(found)")
    }
}
