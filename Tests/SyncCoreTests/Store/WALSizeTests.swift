import Foundation
import GRDB
import Testing
@_spi(Testing) @testable import SyncCore
import TestSupport

/// The WAL does not keep the size of the largest transaction: once
/// checkpointed, the next write cuts it back to `walSizeLimit`.
@Suite("WAL size", .timeLimit(.minutes(3)))
struct WALSizeTests {
    @Test func theWALShrinksBackAfterALargeTransaction() throws {
        let dir = TemporaryDirectory()
        var options = Store.Options()
        options.walSizeLimit = 256 << 10
        let store = try Store(path: dir.path("data.db"), options: options)
        let wal = dir.path("data.db") + "-wal"
        let origin = ReplicaID.random()
        try store.apply(SyntheticDataset.records(4_000, replica: origin), from: origin)  // one transaction
        let grown = try fileSize(wal)
        #expect(grown > 4 << 20, "one transaction of 32,000 slots should grow the WAL past 4 MB, it is \(grown) bytes")
        // Copied into the file off the commit (WALCheckpointer); the next write then starts the WAL over.
        store.waitForCheckpoints()
        try store.create(ref("countries/no"), [.set("name", .text("Norway"))], author: "ana")
        let after = try fileSize(wal)
        #expect(after <= 256 << 10, "the WAL should be back under 256 KB after the next write, it is \(after) bytes")
        #expect(try store.record(ref("countries/no"))?.value("name") == .text("Norway"))
    }

    /// The move from format 1 rewrites the whole database in one
    /// transaction; the WAL it leaves is cut back before the open returns.
    @Test func theMoveFromFormatOneLeavesNoLargeWAL() throws {
        let dir = TemporaryDirectory()
        var options = Store.Options()
        options.walSizeLimit = 256 << 10
        let origin = ReplicaID.random()
        let expected: StateDigest
        do {
            let old = try Store(path: dir.path("data.db"), options: options)
            try old.apply(SyntheticDataset.records(4_000, replica: origin), from: origin)
            expected = try old.digest()
            try old.rewriteAsFormatOne()
        }
        let store = try Store(path: dir.path("data.db"), options: options)
        let wal = try fileSize(dir.path("data.db") + "-wal")
        #expect(wal <= 256 << 10, "the WAL should be under 256 KB once the move is done, it is \(wal) bytes")
        #expect(try store.digest() == expected)
    }

    /// The WAL an adopted join snapshot leaves (the size of the database)
    /// is copied into the file on a connection of its own and cut back to
    /// nothing; with a reader still in the WAL the call does not wait for it
    /// (it returns, the data intact, and the next write cuts the WAL back).
    @Test func theWALAJoinLeavesIsCopiedAndCutBack() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try JoinSnapshotTests.peer(in: dir)
        try p.apply(SyntheticDataset.records(2_000, replica: ReplicaID.random()), from: nil)
        let path = try JoinSnapshotTests.snapshot(of: p, in: dir)
        for readerStaysOpen in [false, true] {
            let name = readerStaysOpen ? "j-reading" : "j"
            let j = try JoinSnapshotTests.joiner(in: dir, name)
            let replica = try p.replicaID, seed = j.seed
            _ = try j.adoptJoinSnapshot(at: path, reason: { _ in "test" }) { try JoinSnapshotCheck.verify(path: path, expectedReplica: replica, seed: seed) }
            let wal = dir.path("\(name)/data.db") + "-wal"
            #expect(try fileSize(wal) > 1 << 20, "the adoption should leave its copy in the WAL")
            // Until the copy has run, no checkpoint starts (the sessions reconnect meanwhile).
            #expect(j.checkpointer.isPaused)
            if readerStaysOpen {
                let reader = try DatabaseQueue(path: dir.path("\(name)/data.db"))
                try reader.inDatabase { db in
                    try db.beginTransaction(.deferred)
                    _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_records")
                    let started = ContinuousClock.now
                    j.checkpointAfterJoin()
                    #expect(ContinuousClock.now - started < .seconds(10), "the cut must not wait for the reader")
                    try db.rollback()
                }
                try reader.close()
            }
            #expect(try j.digest() == p.digest())
            // Once no one reads in it, the WAL is cut back to nothing.
            j.checkpointAfterJoin()
            #expect(try fileSize(wal) == 0)
            #expect(!j.checkpointer.isPaused)
            #expect(try j.viewDrift().count == 0)
        }
    }

    private func fileSize(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
    }
}
