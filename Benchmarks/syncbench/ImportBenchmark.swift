import ArgumentParser
import Foundation
import GRDB
import GRDBSQLite
import SyncCore

/// Benchmark 1: local import of N records through SyncCore (one transaction
/// per 10k records) vs plain SQLite inserts of the same field rows.
struct ImportBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Records/s of importing N agreements through the store vs plain prepared inserts of the same rows.",
        discussion: "Example: swift run -c release syncbench import --records 100000 --repetitions 3")

    @Option(help: "How many records.") var records = 100_000
    @Option(help: "Records per transaction.") var batch = 10_000
    @Option(help: "Repetitions; min and median are printed.") var repetitions = 3
    @Option(help: "Directory for the scratch databases.") var scratch = FileManager.default.temporaryDirectory.path

    static let statuses = ["proposed", "negotiating", "active", "suspended", "expired"]
    static let kinds = ["initiative", "concession", "supply", "export-control", "license"]

    /// `records` synthetic agreements as import rows (the same values as `SyntheticDataset`).
    static func rows(_ records: Int) -> [RecordRow] {
        (0..<records).map { index in
            let cells: [String: RecordRow.Cell] = [
                "title": .scalar(.text("Synthetic agreement number \(index) on critical minerals supply")),
                "kind": .scalar(.text(Self.kinds[index % 5])),
                "status": .scalar(.text(Self.statuses[index % 5])),
                "announced": .scalar(.text("2025-\(String(format: "%02d", index % 12 + 1))-15")),
                "summary": .scalar(.text(String(repeating: "A deal on cobalt, lithium and rare earths between two parties. ", count: 3))),
                "parties": .members(["countries/c\(index % 50)", "countries/c\((index + 7) % 50)"]),
                "minerals": .members(["minerals/m\(index % 10)"]),
            ]
            return RecordRow(ref: RecordRef(collection: "agreements", id: SyntheticDataset.id(index)), cells: cells, origin: "row \(index)")
        }
    }

    /// The baseline's plain table: one row per agreement, the fields as text.
    static let plainTable = """
        CREATE TABLE plain_agreements(id TEXT PRIMARY KEY, title TEXT, kind TEXT, status TEXT, announced TEXT,
            summary TEXT, parties TEXT, minerals TEXT) WITHOUT ROWID
        """

    /// A row's columns in the plain table: the id, then the fields (sets as JSON text).
    static func plainColumns(_ row: RecordRow) -> [String] {
        [row.ref.id] + ["title", "kind", "status", "announced", "summary", "parties", "minerals"].map { field in
            switch row.cells[field] {
            case .scalar(.text(let value))?: value
            case .members(let members)?: members.isEmpty ? "[]" : "[\"" + members.joined(separator: "\",\"") + "\"]"
            default: ""
            }
        }
    }

    /// Imports `rows` into `store` in transactions of `batch` records.
    static func importAll(_ rows: [RecordRow], into store: Store, batch: Int = 10_000) throws {
        for start in stride(from: 0, to: rows.count, by: batch) {
            _ = try store.importRows(Array(rows[start..<min(start + batch, rows.count)]), author: "bench")
        }
    }

    func run() throws {
        let rows = Self.rows(records)
        print("import: \(records) agreements (8 slots each) in transactions of \(batch), \(repetitions) repetitions")
        var figures = SideBySide(count: records, unit: "records/s", storeLabel: "store import", baselineLabel: "plain insert")
        for repetition in 1...repetitions {
            try withScratchStore(in: scratch) { store in
                try store.withWriteTransaction { db in try db.execute(sql: Self.plainTable) }
                let plain = try timed {
                    for start in stride(from: 0, to: rows.count, by: batch) {
                        try store.withWriteTransaction { db in
                            let statement = try db.cachedStatement(sql: "INSERT INTO plain_agreements VALUES (?, ?, ?, ?, ?, ?, ?, ?)").sqliteStatement
                            let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
                            for row in rows[start..<min(start + batch, rows.count)] {
                                for (column, text) in Self.plainColumns(row).enumerated() {
                                    sqlite3_bind_text(statement, Int32(column + 1), text, -1, transient)
                                }
                                guard sqlite3_step(statement) == SQLITE_DONE else { throw ValidationError("plain insert failed") }
                                sqlite3_reset(statement)
                            }
                        }
                    }
                }
                // Until its last checkpoint has ended too: the import is done once all of it is in the file.
                let stored = try timed {
                    try Self.importAll(rows, into: store, batch: batch)
                    store.waitForCheckpoints()
                }
                figures.record(repetition: repetition, store: stored, baseline: plain)
            }
        }
        figures.printSummary()
    }
}
