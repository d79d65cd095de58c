import ArgumentParser
import Foundation
import GRDB
import SyncCore

/// The check of a join snapshot alone (replication-model §4.6), on the
/// snapshot of a store of N imported agreements: what the joiner spends
/// between receiving the file and adopting it, beside SQLite's integrity
/// check of the same file (which the check runs beside its record pass);
/// then the check and the adoption into a new store, one after the other
/// and as the daemon runs them (the check beside the adoption's copy).
struct JoinCheckBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join-check",
        abstract: "Time of checking a join snapshot of N records, beside SQLite's integrity check of the same file.",
        discussion: "Example: swift run -c release syncbench join-check --records 100000 --repetitions 3")

    @Option(help: "Records in the snapshot.") var records = 100_000
    @Option(help: "Repetitions; min and median are printed.") var repetitions = 3
    @Option(help: "Directory for the scratch files.") var scratch = FileManager.default.temporaryDirectory.path

    func run() throws {
        try withScratchStore(in: scratch) { store in
            try ImportBenchmark.importAll(ImportBenchmark.rows(records), into: store)
            let path = URL(fileURLWithPath: store.path).deletingLastPathComponent().appendingPathComponent("join.snapshot")
            let bytes = try store.takeJoinSnapshot(to: path)
            print(String(format: "join-check: a snapshot of %d records, %.1f MB, %d repetitions", records, Double(bytes) / 1e6, repetitions))
            var checks: [Double] = [], integrity: [Double] = [], serial: [Double] = [], overlapped: [Double] = []
            for repetition in 1...repetitions {
                let replica = try store.replicaID
                let checked = try timed { _ = try JoinSnapshotCheck.verify(path: path.path, expectedReplica: replica, seed: store.seed) }
                var configuration = Configuration()
                configuration.readonly = true
                let queue = try DatabaseQueue(path: path.path, configuration: configuration)
                let alone = try timed { _ = try queue.read { try String.fetchAll($0, sql: "PRAGMA integrity_check(20)") } }
                try queue.close()
                checks.append(checked)
                integrity.append(alone)
                let seed = store.seed
                serial.append(try withScratchStore(in: scratch) { joiner in
                    try joiner.seed(SeedData.criticalMinerals())
                    return try timed {
                        let facts = try JoinSnapshotCheck.verify(path: path.path, expectedReplica: replica, seed: seed)
                        _ = try joiner.adoptJoinSnapshot(at: path.path, facts: facts, reason: "benchmark")
                    }
                })
                overlapped.append(try withScratchStore(in: scratch) { joiner in
                    try joiner.seed(SeedData.criticalMinerals())
                    return try timed {
                        _ = try joiner.adoptJoinSnapshot(at: path.path, reason: { _ in "benchmark" }) {
                            try JoinSnapshotCheck.verify(path: path.path, expectedReplica: replica, seed: seed)
                        }
                    }
                })
                print(String(format: "  run %d: the join check %.2f s (%.0f records/s); SQLite's integrity check alone %.2f s;"
                             + " check then adoption %.2f s, the check beside the adoption's copy %.2f s", repetition, checked,
                             Double(records) / checked, alone, serial.last!, overlapped.last!))
            }
            print(String(format: "join check of %d records: median %.2f s (best %.2f s); integrity check alone, median %.2f s",
                         records, median(checks), checks.min()!, median(integrity)))
            print(String(format: "check and adoption of %d records: one after the other %.2f s, the check beside the copy %.2f s (median)",
                         records, median(serial), median(overlapped)))
        }
    }
}
