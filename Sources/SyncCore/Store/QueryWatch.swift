import Foundation
import GRDB
import GRDBSQLite

/// A SQL query watched for changes (`syncctl watch`, `GET /api/v1/watch`;
/// docs/sql.md): its own read-only connection to the database, the query
/// re-run when SQLite's `data_version` says another connection committed,
/// and the difference to the previous run as row events (`RowDiff`).
/// Used by one task at a time (its state is the previous run).
public final class QueryWatch: @unchecked Sendable {
    /// Limits on what a watched query may cost (docs/sql.md "Limits").
    public struct Limits: Sendable {
        /// Rows a run may return; more fails the watch with a message.
        public var maxRows = 100_000
        /// Bytes of SQL text.
        public var maxSQLBytes = 64 << 10
        /// Bytes of all cells of one run.
        public var maxBytes = 64 << 20
        /// Bytes of one text or BLOB value the query makes (`SQLITE_LIMIT_LENGTH`).
        public var maxValueBytes = 4 << 20
        /// Seconds one run may take before it is interrupted.
        public var maxSeconds = 5.0
        public init() {}
    }

    public enum WatchError: Error, CustomStringConvertible {
        case notReadOnly
        case tooLong(Int)
        case tooManyRows(Int)
        case tooManyBytes(Int)
        case tooSlow(Double)
        case stopped
        case invalid(String)

        public var description: String {
            switch self {
            case .notReadOnly: "only a query that reads can be watched (one SELECT statement)"
            case .tooLong(let limit): "the query is longer than \(limit) bytes"
            case .tooManyRows(let limit): "the query returns more than \(limit) rows: narrow it with WHERE or LIMIT"
            case .tooManyBytes(let limit): "the query returns more than \(limit) bytes: select fewer columns or rows"
            case .tooSlow(let seconds): "the query took longer than \(seconds) s and was stopped: narrow it, or add an index"
            case .stopped: "the watch was stopped"
            case .invalid(let reason): "the query cannot run: \(reason)"
            }
        }
    }

    private let queue: DatabaseQueue
    private let sql: String
    private let limits: Limits
    /// When the current run must stop, and whether the watch was stopped:
    /// read by SQLite's progress handler on the query's thread.
    private let guardState = RunGuard()
    private var version: Int64?
    public private(set) var current: QueryRows?

    /// Opens a read-only connection to `path` and checks that `sql` is one
    /// statement that only reads.
    public init(path: String, sql: String, limits: Limits = Limits()) throws {
        guard sql.utf8.count <= limits.maxSQLBytes else { throw WatchError.tooLong(limits.maxSQLBytes) }
        // Only a query, checked before SQLite even prepares it: some PRAGMAs
        // count as read-only yet change the whole process, and take effect
        // when prepared (`hard_heap_limit`, `soft_heap_limit`).
        guard ["select", "with", "values"].contains(Self.firstKeyword(sql)) else { throw WatchError.notReadOnly }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        let guardState = self.guardState
        configuration.prepareDatabase { db in
            guard let connection = db.sqliteConnection else { return }
            // No ATTACH (a query must not open other files, nor tell whether they exist).
            sqlite3_limit(connection, SQLITE_LIMIT_ATTACHED, 0)
            sqlite3_limit(connection, SQLITE_LIMIT_LENGTH, Int32(limits.maxValueBytes))
            sqlite3_progress_handler(connection, 1_000, { context in
                guard let context else { return 0 }
                return Unmanaged<RunGuard>.fromOpaque(context).takeUnretainedValue().shouldStop ? 1 : 0
            }, Unmanaged.passUnretained(guardState).toOpaque())
        }
        queue = try DatabaseQueue(path: path, configuration: configuration)
        self.sql = sql
        self.limits = limits
        try queue.inDatabase { db in
            let statement: Statement
            do { statement = try db.makeStatement(sql: sql) } catch let error as DatabaseError {
                throw WatchError.invalid(error.message ?? "\(error)")
            }
            guard statement.isReadonly else { throw WatchError.notReadOnly }
        }
    }

    /// The statement's first keyword, lower-cased, after spaces and comments.
    /// By scalar (ScalarText): a CRLF ending is one `Character` "\r\n" that
    /// is not "\n", so a `--` comment ended by CRLF used to swallow the rest.
    static func firstKeyword(_ sql: String) -> String {
        var rest = sql.unicodeScalars[...]
        while true {
            rest = rest.drop { $0.properties.isWhitespace }
            if rest.starts(with: "--".unicodeScalars) {
                rest = rest.drop { $0 != "\n" }
            } else if rest.starts(with: "/*".unicodeScalars) {
                rest = rest.dropFirst(2)
                var previous: Unicode.Scalar = " "
                guard let end = rest.firstIndex(where: { scalar in defer { previous = scalar }; return previous == "*" && scalar == "/" }) else { return "" }
                rest = rest[rest.index(after: end)...]
            } else {
                break
            }
        }
        return String(String.UnicodeScalarView(rest.prefix { $0.properties.isAlphabetic })).lowercased()
    }

    /// Stops the watch: a run in progress is interrupted (from any thread).
    public func stop() { guardState.stop() }

    /// Runs the query now, within the limits.
    public func run() throws -> QueryRows {
        guardState.begin(seconds: limits.maxSeconds)
        defer { guardState.end() }
        do {
            return try runOnce()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_INTERRUPT {
            throw guardState.isStopped ? WatchError.stopped : WatchError.tooSlow(limits.maxSeconds)
        }
    }

    private func runOnce() throws -> QueryRows {
        try queue.read { db in
            let statement: Statement
            do { statement = try db.makeStatement(sql: sql) } catch let error as DatabaseError { throw WatchError.invalid(error.message ?? "\(error)") }
            let handle = statement.sqliteStatement
            defer { sqlite3_reset(handle) }
            let columns = statement.columnNames
            var rows: [[SQLCell]] = []
            var bytes = 0
            while true {
                let code = sqlite3_step(handle)
                if code == SQLITE_DONE { break }
                if code == SQLITE_INTERRUPT { throw DatabaseError(resultCode: .SQLITE_INTERRUPT) }
                guard code == SQLITE_ROW else { throw WatchError.invalid(String(cString: sqlite3_errmsg(db.sqliteConnection))) }
                guard rows.count < limits.maxRows else { throw WatchError.tooManyRows(limits.maxRows) }
                let row = (0..<Int32(columns.count)).map { SQLCell.read(handle, $0) }
                bytes += row.reduce(0) { $0 + $1.byteCount }
                guard bytes <= limits.maxBytes else { throw WatchError.tooManyBytes(limits.maxBytes) }
                rows.append(row)
            }
            return QueryRows(columns: columns, rows: rows)
        }
    }

    /// The first run: the rows as they are now.
    public func start() throws -> QueryRows {
        version = try dataVersion()
        let rows = try run()
        current = rows
        return rows
    }

    /// Re-runs the query if another connection committed since the last run;
    /// the row events (empty when nothing the query sees changed).
    public func poll() throws -> [RowEvent] {
        let now = try dataVersion()
        guard now != version, let previous = current else { return [] }
        version = now
        let rows = try run()
        current = rows
        return RowDiff.diff(previous, rows)
    }

    private func dataVersion() throws -> Int64 {
        try queue.inDatabase { try Int64.fetchOne($0, sql: "PRAGMA data_version") ?? 0 }
    }
}

/// The deadline of a watched query's run and its stop flag, read by
/// SQLite's progress handler every 1,000 virtual-machine steps.
final class RunGuard: @unchecked Sendable {
    private let lock = NSLock()
    private var deadline: Date?
    private var stopped = false

    func begin(seconds: Double) { lock.withLock { deadline = Date().addingTimeInterval(seconds) } }
    func end() { lock.withLock { deadline = nil } }
    func stop() { lock.withLock { stopped = true } }
    var isStopped: Bool { lock.withLock { stopped } }
    var shouldStop: Bool { lock.withLock { stopped || (deadline.map { Date() > $0 } ?? false) } }
}

/// One line of a watch's output (docs/cli-json.md, docs/api.md): a row of
/// the first run, or an added, changed or removed row. Rows are objects
/// keyed by column name.
public struct RowEventJSON: Encodable, Sendable {
    public let event: String
    public let row: [String: SQLCell]
    public let before: [String: SQLCell]?
    public let at: Date

    public static func row(_ cells: [SQLCell], columns: [String], at: Date) -> RowEventJSON {
        RowEventJSON(event: "row", row: object(cells, columns), before: nil, at: at)
    }

    public init(_ event: RowEvent, columns: [String], at: Date) {
        self.at = at
        switch event {
        case .added(let cells): self.event = "added"; row = Self.object(cells, columns); before = nil
        case .removed(let cells): self.event = "removed"; row = Self.object(cells, columns); before = nil
        case .changed(let old, let new): self.event = "changed"; row = Self.object(new, columns); before = Self.object(old, columns)
        }
    }

    private init(event: String, row: [String: SQLCell], before: [String: SQLCell]?, at: Date) {
        self.event = event
        self.row = row
        self.before = before
        self.at = at
    }

    /// Column names as keys; a repeated name gets `:2`, `:3`.
    static func object(_ cells: [SQLCell], _ columns: [String]) -> [String: SQLCell] {
        var object: [String: SQLCell] = [:]
        for (index, cell) in cells.enumerated() where index < columns.count {
            var name = columns[index], suffix = 2
            while object[name] != nil { name = "\(columns[index]):\(suffix)"; suffix += 1 }
            object[name] = cell
        }
        return object
    }

    /// One JSON line (no pretty-printing; keys sorted).
    public var line: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}
