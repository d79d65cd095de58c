import ArgumentParser
import Foundation
import SyncCore
import TestSupport

/// Benchmark 9: one SQL statement that updates every agreement of a
/// replica, with two daemons running — the statement itself, the time until
/// the daemon has taken it up as replicated edits, and until the peer has
/// every row — beside the same edit made with `syncctl import`.
struct SQLWriteBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "A 10,000-row SQL UPDATE until it is replicated edits and until a peer has them, beside syncctl import.",
        discussion: "Example: swift run -c release syncbench sql --records 10000")

    @Option(help: "Agreements in the database, all updated by one statement.") var records = 10_000
    @Option(help: "Timed runs of each way (the median is reported).") var repetitions = 3

    struct Run {
        var statement = 0.0
        var replicated = 0.0
        var peer = 0.0
    }

    func run() async throws {
        guard let sqlite3 = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            print("sql: skipped, no sqlite3 CLI (apt-get install sqlite3)")
            return
        }
        let root = TemporaryDirectory("syncbench-sql")
        let (source, target) = try await OneChange.pair(records: records, in: root)
        defer { source.kill(); target.kill() }
        let database = source.directory.appendingPathComponent("data.db").path
        let writer = try source.store(), reader = try target.store()
        let total = try reader.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM agreements") ?? 0 }
        let syncctl = BuiltProducts.executable("syncctl")

        func until(_ condition: () throws -> Bool) async throws -> ContinuousClock.Instant {
            guard try await eventually(timeout: .seconds(600), every: .milliseconds(2), condition) else { throw HarnessError("timed out") }
            return .now
        }
        func peerHas(_ marker: String) throws -> Bool {
            try reader.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM agreements WHERE summary = ? || id", arguments: [marker]) } == total
        }

        var sql: [Run] = [], imports: [Run] = []
        for repetition in 0..<repetitions {
            // One UPDATE of every row, from the sqlite3 shell.
            var marker = "sql \(repetition) "
            var started = ContinuousClock.now
            let result = try SQLiteShell.command([sqlite3, database, "UPDATE agreements SET summary = '\(marker)' || id"])
            guard result.status == 0 else { throw HarnessError("sqlite3: \(result)") }
            var run = Run(statement: (ContinuousClock.now - started).seconds)
            run.replicated = (try await until { try !writer.hasPendingSQLEdits() } - started).seconds
            run.peer = (try await until { try peerHas(marker) } - started).seconds
            sql.append(run)
            print("  SQL UPDATE of \(total) rows: statement \(run.statement.f2) s, replicated edits after \(run.replicated.f2) s, on the peer after \(run.peer.f2) s")

            // The same edit as a file for `syncctl import`.
            marker = "import \(repetition) "
            let file = root.url.appendingPathComponent("summary-\(repetition).csv")
            let ids = try writer.read { try String.fetchAll($0, sql: "SELECT id FROM agreements") }
            try Data((["id,summary"] + ids.map { "\($0),\(marker)\($0)" }).joined(separator: "\n").utf8).write(to: file)
            started = ContinuousClock.now
            let imported = try SQLiteShell.command([syncctl.path, "import", file.path, "--collection", "agreements", "--data-dir", source.directory.path])
            guard imported.status == 0 else { throw HarnessError("syncctl import: \(imported)") }
            var baseline = Run(statement: (ContinuousClock.now - started).seconds)
            baseline.replicated = baseline.statement
            baseline.peer = (try await until { try peerHas(marker) } - started).seconds
            imports.append(baseline)
            print("  syncctl import of the same edit: replicated edits after \(baseline.replicated.f2) s, on the peer after \(baseline.peer.f2) s")
        }
        let m = { (runs: [Run], path: KeyPath<Run, Double>) in median(runs.map { $0[keyPath: path] }) }
        print("SQL UPDATE of \(total) rows (median of \(repetitions)): statement \(m(sql, \.statement).f2) s; replicated edits \(m(sql, \.replicated).f2) s"
              + " (syncctl import \(m(imports, \.replicated).f2) s, \((m(sql, \.replicated) / m(imports, \.replicated)).f2)×);"
              + " on the peer \(m(sql, \.peer).f2) s (import \(m(imports, \.peer).f2) s, \((m(sql, \.peer) / m(imports, \.peer)).f2)×)")
    }
}
