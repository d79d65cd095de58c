import Foundation
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

    private func fileSize(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
    }
}
