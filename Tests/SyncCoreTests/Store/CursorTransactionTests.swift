import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// Counts commits on the connection it is attached to.
private final class CommitCounter: TransactionObserver, @unchecked Sendable {  // touched on the writer's queue only
    var commits = 0
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { commits += 1 }
    func databaseDidRollback(_ db: Database) {}
}

@Suite("The cursor commits with the batch (replication-model §4.2)", .timeLimit(.minutes(3)))
struct CursorTransactionTests {
    /// One transaction: a crash can never leave the merged states without
    /// the cursor that says they were merged, nor the reverse.
    @Test func aBatchAndItsCursorAreOneCommit() throws {
        let dir = TemporaryDirectory()
        let source = try dir.store("a.db")
        let target = try dir.store("b.db")
        try source.seed(SeedData.criticalMinerals())
        let counter = CommitCounter()
        try target.withWriteTransaction { db in db.add(transactionObserver: counter, extent: .databaseLifetime) }
        let before = try target.withWriteTransaction { _ in counter.commits }
        let batch = try source.changes(since: 0, maxCount: 200, maxBytes: 1 << 20)
        try target.apply(batch.changes, from: try source.replicaID, cursor: batch.cursor)
        let after = try target.withWriteTransaction { _ in counter.commits }
        // `before` counts the probe's own transaction; `after` that one too.
        #expect(after - before == 2, "apply took \(after - before - 1) commits")
        #expect(try target.cursor(for: try source.replicaID) == batch.cursor)
    }

    /// A merge of a closed connection can finish after the newer session's
    /// (a duplicate connection replaced, a stalled disk): its older cursor
    /// must not move the stored one back (found by the simulation with a
    /// disk stall: seeds 1, 8 and 9 failed before).
    @Test func aLateMergeWithAnOlderCursorDoesNotMoveItBack() throws {
        let dir = TemporaryDirectory()
        let source = try dir.store("a.db")
        let target = try dir.store("b.db")
        try source.seed(SeedData.criticalMinerals())
        let peer = try source.replicaID
        let all = try source.changes(since: 0, maxCount: 10_000, maxBytes: 1 << 26)
        let early = try source.changes(since: 0, maxCount: 5, maxBytes: 1 << 26)
        try target.apply(all.changes, from: peer, cursor: all.cursor)
        try target.apply(early.changes, from: peer, cursor: early.cursor)
        #expect(early.cursor < all.cursor)
        #expect(try target.cursor(for: peer) == all.cursor)
    }
}
