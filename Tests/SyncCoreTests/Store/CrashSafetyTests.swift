import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// A merge interrupted by SIGKILL leaves the previous state and cursor: the
/// batch and its cursor commit together or not at all (replication-model §4).
@Suite("Crash safety", .serialized, .timeLimit(.minutes(5)))
struct CrashSafetyTests {
    static let batchSize = 10_000  // records; two slots each

    @Test(arguments: [0, 40, 150])
    func killedMidBatchLosesNothingAndAppliesNothingTwice(killDelayMillis: Int) throws {
        let dir = TemporaryDirectory("crash")
        let path = dir.path("data.db")
        _ = try Store(path: path)  // created and closed, like a daemon's database
        let peer = ReplicaID.random()

        let helper = Process()
        helper.executableURL = BuiltProducts.executable("store-crash-helper")
        helper.arguments = [path, peer.hex, "1", "50", String(Self.batchSize)]
        let output = Pipe()
        helper.standardOutput = output
        try helper.run()

        // Wait until batch 2 has committed and batch 3 has begun, then kill.
        var seen = ""
        let reader = output.fileHandleForReading
        while !seen.contains("begin 3\n") {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        #expect(seen.contains("committed 2 "))
        usleep(useconds_t(killDelayMillis * 1_000))
        kill(helper.processIdentifier, SIGKILL)
        helper.waitUntilExit()
        #expect(helper.terminationReason == .uncaughtSignal)
        seen += String(decoding: reader.readDataToEndOfFile(), as: UTF8.self)
        let committed = seen.split(separator: "\n").filter { $0.hasPrefix("committed ") }.count

        let store = try Store(path: path)
        let cursor = try store.cursor(for: peer)
        #expect(cursor >= 2)
        #expect(cursor == UInt64(committed) || cursor == UInt64(committed) + 1)  // the kill may land between commit and print
        try store.read { db in
            #expect(try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok")
            let slots = try Int.fetchOne(db, sql: "SELECT sum(slot_count) FROM sync_records") ?? -1
            #expect(slots == 2 * Int(cursor) * Self.batchSize)
            let viewRows = try Int.fetchOne(db, sql: "SELECT count(*) FROM countries") ?? -1
            #expect(viewRows == Int(cursor) * Self.batchSize)
            // New records: their first states keep their versions out of
            // history (format 5), every slot marked so, none half-written.
            let history = try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_history") ?? -1
            #expect(history == 0)
            let beyond = try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_records WHERE record LIKE ?", arguments: ["b\(cursor + 1)-%"]) ?? -1
            #expect(beyond == 0)
        }
        // Readers still show each record's two versions, once.
        #expect(try store.history(RecordRef(collection: "countries", id: "b1-0")).count == 2)
        // Re-sending the interrupted batch and the ones before it applies each slot once.
        let replay = try Self.runHelper(path: path, peer: peer, first: 1, last: Int(cursor) + 1)
        #expect(replay.changed == 2 * Self.batchSize)
        #expect(replay.unchanged == 2 * Int(cursor) * Self.batchSize)
        // One seq per record per transaction: the replay stamped only the interrupted batch.
        #expect(try store.highestSeq() == UInt64((Int(cursor) + 1) * Self.batchSize))
    }

    /// Runs the helper to completion; sums the changed/unchanged counts it reports.
    static func runHelper(path: String, peer: ReplicaID, first: Int, last: Int) throws -> (changed: Int, unchanged: Int) {
        let helper = Process()
        helper.executableURL = BuiltProducts.executable("store-crash-helper")
        helper.arguments = [path, peer.hex, String(first), String(last), String(batchSize)]
        let output = Pipe()
        helper.standardOutput = output
        try helper.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        helper.waitUntilExit()
        var totals = (changed: 0, unchanged: 0)
        for line in text.split(separator: "\n") where line.hasPrefix("committed ") {
            let words = line.split(separator: " ")
            totals.changed += Int(words[3]) ?? 0
            totals.unchanged += Int(words[5]) ?? 0
        }
        return totals
    }
}
