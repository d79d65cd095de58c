import ArgumentParser
import Foundation
import SyncCore

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the rows of a SQL query, then one JSON line per row added, changed or removed, until interrupted.",
        discussion: """
            The query reads the collection tables (agreements, countries, …) and runs on a
            read-only connection; it runs again whenever the database changes — an edit from
            a peer, syncctl, the web app or SQL — and every difference is printed as it
            happens. Rows are matched by their `id` column when the query selects one.
            A run may take 5 s and return 64 MiB; past that the watch stops with the reason.
            Lines are documented in docs/cli-json.md; stop with Ctrl-C.

            Examples:
              syncctl watch "SELECT id, title, status FROM agreements WHERE status = 'active'"
              syncctl watch --json "SELECT id, name FROM countries WHERE region = 'africa'" | jq .
              syncctl watch "SELECT count(*) AS n FROM agreements"
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "One SELECT statement.") var query: String
    @Option(help: "How often to look for changes, in milliseconds.") var intervalMs = 100
    @Option(help: "Most rows the query may return.") var maxRows = QueryWatch.Limits().maxRows
    @Flag(help: "Print the current rows and stop.") var once = false

    func validate() throws {
        guard (10...60_000).contains(intervalMs) else { throw ValidationError("--interval-ms takes 10 to 60000") }
        guard maxRows > 0 else { throw ValidationError("--max-rows must be positive") }
    }

    func run() throws {
        try reportingErrors {
            // Opened (and pending SQL edits taken up) like every command; the
            // watch itself reads on its own read-only connection. The store
            // stays open for the watch's life: its use lock keeps a snapshot
            // restore from replacing the file under the watch's connection.
            let store = try global.openStore(readOnly: true)
            defer { withExtendedLifetime(store) {} }
            var limits = QueryWatch.Limits()
            limits.maxRows = maxRows
            let watch: QueryWatch
            do { watch = try QueryWatch(path: global.directory.databasePath, sql: query, limits: limits) } catch let error as QueryWatch.WatchError {
                throw CLIError("\(error)")
            }
            let rows: QueryRows
            do { rows = try watch.start() } catch let error as QueryWatch.WatchError { throw CLIError("\(error)") }
            if global.json {
                for row in rows.rows { emit(RowEventJSON.row(row, columns: rows.columns, at: Date()).line) }
            } else {
                emit(rows.columns.joined(separator: "\t"))
                for row in rows.rows { emit(row.map(\.plain).joined(separator: "\t")) }
                if !once { FileHandle.standardError.write(Data("syncctl: \(rows.rows.count) row(s); watching for changes (Ctrl-C to stop)\n".utf8)) }
            }
            if once { return }
            let database = global.directory.databasePath
            while true {
                Thread.sleep(forTimeInterval: Double(intervalMs) / 1_000)
                guard FileManager.default.fileExists(atPath: database) else {
                    throw CLIError("the database \(database) is gone; the watch stops")
                }
                let events: [RowEvent]
                do { events = try watch.poll() } catch let error as QueryWatch.WatchError { throw CLIError("\(error)") }
                for event in events { emit(RowEventJSON(event, columns: rows.columns, at: Date()).line) }
            }
        }
    }

    /// One line, written at once (the reader may be a pipe).
    private func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}

extension SQLCell {
    /// The cell as plain text in a table (what `sqlite3` prints).
    var plain: String {
        switch self {
        case .null: ""
        case .text(let bytes): String(decoding: bytes, as: UTF8.self)
        default: display
        }
    }
}
