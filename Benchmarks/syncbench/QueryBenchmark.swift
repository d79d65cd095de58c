import Foundation
import SyncCore
import TestSupport

/// Benchmark 7: `syncctl get` and `syncctl list --where status=active`
/// against the `sqlite3` CLI running the same query on the same database.
enum QueryBenchmark {
    static func compare(database: String, records: Int, repetitions: Int = 5) throws {
        let directory = URL(fileURLWithPath: database).deletingLastPathComponent().path
        let syncctl = BuiltProducts.executable("syncctl").path
        guard let sqlite3 = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            print("queries: skipped, no sqlite3 CLI (apt-get install sqlite3)")
            return
        }
        let id = SyntheticDataset.id(records / 3)
        // Process start: the same command line up to the point where it would
        // open the database (an empty data directory makes it stop there).
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("syncbench-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let startSyncctl = try time([syncctl, "get", "agreements/\(id)", "--data-dir", empty.path], repetitions: repetitions, exitStatus: 1)
        let startSqlite = try time([sqlite3, ":memory:", "select 1"], repetitions: repetitions)
        print("queries on \(records) records; process start (`syncctl get` up to opening the database, `sqlite3 :memory:`): syncctl \((startSyncctl * 1_000).f1) ms, sqlite3 \((startSqlite * 1_000).f1) ms")
        let cases: [(label: String, syncctl: [String], sqlite: String)] = [
            ("get \(id)", ["get", "agreements/\(id)"], "SELECT * FROM agreements WHERE id = '\(id)'"),
            ("list --where status=active", ["list", "agreements", "--where", "status=active"],
             "SELECT * FROM agreements WHERE status = 'active' ORDER BY id"),
        ]
        for query in cases {
            let ours = try time([syncctl] + query.syncctl + ["--data-dir", directory], repetitions: repetitions)
            let theirs = try time([sqlite3, "-readonly", database, query.sqlite], repetitions: repetitions)
            let allowed = 2 * theirs + startSyncctl
            print("  \(query.label): syncctl \((ours * 1_000).f1) ms, sqlite3 \((theirs * 1_000).f1) ms, ratio \((ours / theirs).f2)x;"
                  + " aim 2 x sqlite3 + syncctl start = \((allowed * 1_000).f1) ms: \(ours <= allowed ? "met" : "missed by \((ours / allowed).f2)x")")
        }
    }

    /// Median wall time of running `command` with output discarded.
    static func time(_ command: [String], repetitions: Int, exitStatus: Int32 = 0) throws -> Double {
        var times: [Double] = []
        for _ in 0..<repetitions {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: command[0])
            process.arguments = Array(command.dropFirst())
            process.standardOutput = FileHandle.nullDevice
            let errors = Pipe()
            process.standardError = errors
            let started = ContinuousClock.now
            try process.run()
            let message = errors.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            times.append((ContinuousClock.now - started).seconds)
            guard process.terminationStatus == exitStatus else {
                throw HarnessError("\(command.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: message, as: UTF8.self))")
            }
        }
        return median(times)
    }
}
