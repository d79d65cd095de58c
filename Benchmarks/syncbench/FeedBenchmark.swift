import ArgumentParser
import Foundation
import SyncCore

/// The sender's side of an initial sync: reading the whole change feed in
/// pull-sized batches, for records written whole and for records whose
/// slots were each written by a different transaction (as in a database
/// migrated from format 1, or a record edited field by field).
struct FeedBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feed",
        abstract: "Slots/s of reading the whole change feed in batches, records written whole vs slot by slot.",
        discussion: "Example: swift run -c release syncbench feed --records 100000")

    @Option(help: "Records in the database (8 slots each).") var records = 100_000
    @Option(help: "Repetitions of the read; min and median are printed.") var repetitions = 3
    @Option(help: "Directory for the scratch databases.") var scratch = FileManager.default.temporaryDirectory.path

    func run() throws {
        let origin = ReplicaID(hex: "0123456789abcdef0123456789abcdef")!
        let changes = SyntheticDataset.records(records, replica: origin)
        let defaults = DaemonConfig(deviceName: "bench", author: "bench")  // the daemon's batch limits
        print("feed: \(records) records (\(changes.count) slots), batches of ≤ \(defaults.batchMaxSlots) slots / \(defaults.batchMaxBytes >> 10) KB, \(repetitions) repetitions")
        for layout in ["records written whole", "one transaction per slot of a record"] {
            try withScratchStore(in: scratch) { store in
                let chunk = 40_000
                if layout == "records written whole" {
                    for start in stride(from: 0, to: changes.count, by: chunk) {
                        try store.apply(Array(changes[start..<min(start + chunk, changes.count)]), from: origin)
                    }
                } else {
                    // The n-th slot of every record in one pass: each record ends up with 8 seqs.
                    for slot in 0..<8 {
                        let pass = stride(from: slot, to: changes.count, by: 8).map { changes[$0] }
                        for start in stride(from: 0, to: pass.count, by: chunk) {
                            try store.apply(Array(pass[start..<min(start + chunk, pass.count)]), from: origin)
                        }
                    }
                }
                var seconds: [Double] = []
                for _ in 1...repetitions {
                    var cursor: UInt64 = 0
                    var read = 0
                    seconds.append(try timed {
                        while true {
                            let batch = try store.changes(since: cursor, maxCount: defaults.batchMaxSlots, maxBytes: defaults.batchMaxBytes)
                            read += batch.changes.count
                            cursor = batch.cursor
                            if !batch.hasMore { break }
                        }
                    })
                    guard read == changes.count else { throw ValidationError("the feed gave \(read) slots, expected \(changes.count)") }
                }
                print("\(layout): best \((Double(changes.count) / seconds.min()!).f0) slots/s, median \((Double(changes.count) / median(seconds)).f0) slots/s")
            }
        }
    }
}
