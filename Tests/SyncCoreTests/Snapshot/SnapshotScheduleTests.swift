import Foundation
import Logging
import Testing
import TestSupport
@testable import SyncCore

@Suite("Scheduled snapshots", .timeLimit(.minutes(3)))
struct SnapshotScheduleTests {
    let root = TemporaryDirectory("snapshot-schedule")

    @Test func roundsKeepTheNewestVerifiedSnapshots() throws {
        let store = try root.store()
        let directory = root.url.appendingPathComponent("snapshots")
        let scheduler = SnapshotScheduler(store: store, directory: directory, intervalMinutes: 1, retain: 2, logger: Logger(label: "test"))
        var taken: [String] = []
        for round in 0..<4 {
            try store.create(RecordRef(parsing: "countries/c\(round)")!, [.set("name", .text("Country \(round)"))], author: "t")
            scheduler.takeOne()
            taken.append(Snapshots.list(in: directory).first!.url.lastPathComponent)
        }
        let left = Snapshots.list(in: directory)
        #expect(left.map(\.url.lastPathComponent) == Array(taken.suffix(2).reversed()))
        for snapshot in left {
            #expect(try Snapshots.verify(snapshot.url) == [])
            #expect(FileManager.default.fileExists(atPath: SnapshotManifest.url(for: snapshot.url).path))
        }
        #expect(left.first?.manifest?.highestSeq == (try store.highestSeq()))
    }
}
