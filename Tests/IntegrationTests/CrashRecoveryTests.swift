import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// `kill -9` in the middle of a large sync: each batch commits with its
    /// cursor, so the restarted daemon resumes where it stopped and ends with
    /// every record exactly once.
    @Suite struct CrashRecovery {
        let root = TemporaryDirectory("syncd-crash")
        static let records = 50_000

        @Test func killedMidSyncConvergesWithNothingLostOrDuplicated() async throws {
            let a = try DaemonProcess("a", in: root)
            // Joining by snapshot off: this test is about the ordinary pull.
            let b = try DaemonProcess("b", in: root, extraConfig: "batch:\n  max_slots: 1000\njoin:\n  min_behind_seqs: 0")
            // Give a 50,000 records (150,000 slots) written by a third replica.
            try await a.start()
            try await a.stop()
            let origin = ReplicaID.random()
            let source = try a.store()
            let chunk = 5_000
            for first in stride(from: 0, to: Self.records, by: chunk) {
                try source.apply(SyntheticDataset.records(chunk, first: first, slotsPerRecord: 3, replica: origin), from: origin)
            }
            let expected = try source.recordCounts()["agreements"] ?? 0
            #expect(expected >= Self.records)

            try await a.start()
            try await b.start()
            let seededSeq = try b.store().highestSeq()
            try connect([(b, a)])
            let reader = try b.store()
            let midway = try await eventually(timeout: .seconds(120), every: .milliseconds(20)) {
                (try reader.recordCounts()["agreements"] ?? 0) >= Self.records / 5
            }
            #expect(midway, "b never got a fifth of the records:\n\(b.log(last: 20))")
            b.kill()
            let atKill = try reader.recordCounts()["agreements"] ?? 0
            print("killed b with \(atKill) of \(expected) agreements received")
            #expect(atKill < expected, "the sync finished before the kill; the test proves nothing")

            try await b.start()
            let converged = try await eventually(timeout: .seconds(300), every: .milliseconds(200)) { try a.digest() == b.digest() }
            #expect(converged, "no convergence after restart:\n\(b.log(last: 30))")
            let after = try b.store()
            #expect(try after.recordCounts()["agreements"] == expected)
            // Every slot was stamped exactly once: the seeded slots, then one seq per
            // synthetic record (its 3 slots arrive together and share it).
            #expect(try after.highestSeq() == seededSeq + UInt64(Self.records))
            for record in [0, atKill / 3 + 1, Self.records - 1] {
                let history = try after.history(RecordRef(parsing: "agreements/\(SyntheticDataset.id(record))")!)
                #expect(history.count == 3, "history of \(record): \(history.count) versions")
            }
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}
