import ArgumentParser
import Foundation
import SyncCore
import TestSupport

/// Benchmark 8: the web API on a large collection — its first page, a
/// filtered page and a text search — each beside `sqlite3` running the very
/// same SQL on the same database (`RecordPageSQL.literalSQL`), and the HTTP
/// round trip of a static file as the allowance for the transport.
struct WebBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web",
        abstract: "The web API's pages and search on N records beside sqlite3 running the same query.",
        discussion: "Example: swift run -c release syncbench web --records 1000000")

    @Option(help: "Agreements in the database (eight slots each).") var records = 1_000_000
    @Option(help: "Timed runs of each query (the median is reported).") var repetitions = 5

    func run() async throws {
        guard let sqlite3 = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            print("web: skipped, no sqlite3 CLI (apt-get install sqlite3)")
            return
        }
        let root = TemporaryDirectory("syncbench-web")
        let daemon = try await BenchDaemons.prepared("web", in: root)
        let filled = try BenchDaemons.fill(daemon, records: records)
        print("filled \(records) records in \(filled.f1) s")
        try await daemon.start()
        _ = try await daemon.waitForUI()
        let key = try String(contentsOf: daemon.directory.appendingPathComponent("ui-api-key"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let client = BenchHTTP(port: daemon.uiPort, apiKey: key)
        let schema = Schema.criticalMinerals
        let database = daemon.directory.appendingPathComponent("data.db").path
        let needle = "number \(records * 7 / 10) on"

        // The transport: a static file over a new connection, as each query pays.
        let roundTrip = median(try (0..<(repetitions * 4)).map { _ in try client.time("/app.css", authorized: false) })
        print("web API on \(records) records; HTTP round trip (GET /app.css, new connection): \((roundTrip * 1_000).f2) ms")
        let cases: [(label: String, path: String, query: RecordPageQuery)] = [
            ("first page (50 by id)", "/api/v1/collections/agreements/records?limit=50", RecordPageQuery(collection: "agreements")),
            ("filtered page (status=active, 50)", "/api/v1/collections/agreements/records?limit=50&where=status%3Dactive",
             RecordPageQuery(collection: "agreements", filters: [("status", .text("active"))])),
            ("sorted page (by title, descending, 50)", "/api/v1/collections/agreements/records?limit=50&sort=title&order=desc",
             RecordPageQuery(collection: "agreements", sort: "title", descending: true)),
            ("text search ('\(needle)', 50)", "/api/v1/collections/agreements/records?limit=50&q=\(needle.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)",
             RecordPageQuery(collection: "agreements", search: needle)),
        ]
        for entry in cases {
            let sql = try RecordPageSQL(entry.query, schema: schema).literalSQL
            _ = try client.time(entry.path)   // warm the page cache for both sides
            let ours = median(try (0..<repetitions).map { _ in try client.time(entry.path) })
            let theirs = try sqliteTime(sqlite3, database: database, sql: sql, repetitions: repetitions)
            let allowed = 2 * theirs + roundTrip
            print("  \(entry.label): API \((ours * 1_000).f1) ms, sqlite3 \((theirs * 1_000).f1) ms (same SQL), ratio \((ours / max(theirs, 1e-6)).f2)x;"
                  + " aim 2 x sqlite3 + round trip = \((allowed * 1_000).f1) ms: \(ours <= allowed ? "met" : "missed by \((ours / allowed).f2)x")")
        }
        try await daemon.stop()
    }

    /// sqlite3's time for one run of `sql`: the CLI runs it `batch` times in
    /// one process, minus the same process with nothing to run (opening the
    /// database), divided by `batch`; the median over `repetitions`.
    func sqliteTime(_ sqlite3: String, database: String, sql: String, repetitions: Int) throws -> Double {
        func run(_ script: String) throws -> Double {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: sqlite3)
            process.arguments = ["-readonly", database]
            let input = Pipe()
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            let started = ContinuousClock.now
            try process.run()
            input.fileHandleForWriting.write(Data(script.utf8))
            try input.fileHandleForWriting.close()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw HarnessError("sqlite3 failed on: \(sql)") }
            return (ContinuousClock.now - started).seconds
        }
        let open = "SELECT 1 FROM sqlite_master LIMIT 1;\n"
        // Enough runs in one process that the query, not process noise, is measured.
        let estimate = max(0, try run(open + String(repeating: sql + ";\n", count: 5)) - (try run(open))) / 5
        let batch = estimate < 0.005 ? 500 : estimate < 0.05 ? 50 : 5
        return median(try (0..<repetitions).map { _ in
            let full = try run(open + String(repeating: sql + ";\n", count: batch))
            let empty = try run(open)
            return max(0, full - empty) / Double(batch)
        })
    }
}

/// Timed requests through `RawHTTP`: a new connection per request.
struct BenchHTTP {
    let port: Int
    let apiKey: String

    /// Seconds from connect to the last byte of the response; fails on non-200.
    func time(_ path: String, authorized: Bool = true) throws -> Double {
        let response = try RawHTTP(port: port).send("GET", path, headers: authorized ? [("Authorization", "Bearer \(apiKey)")] : [])
        guard response.status == 200 else { throw HarnessError("GET \(path): \(response.description.prefix(300))") }
        return response.elapsed.seconds
    }
}
