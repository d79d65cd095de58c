// syncbench: figures for docs/BENCHMARKS.md. Build with `-c release`.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ArgumentParser
import Foundation
import GRDB
import GRDBSQLite
import SyncCore

@main
struct SyncBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "syncbench",
        abstract: "Measures SyncCore against plain SQLite on the same machine, in the same run.",
        discussion: """
            Example:
              swift run -c release syncbench apply --slots 100000 --repetitions 3
            """,
        subcommands: [ApplyBenchmark.self, ImportBenchmark.self, SyncBenchmark.self, ConvergenceBenchmark.self, LibrariesBenchmark.self, SnapshotBenchmark.self, FeedBenchmark.self, MigrateBenchmark.self, WebBenchmark.self, SQLWriteBenchmark.self, JoinBenchmark.self, JoinCheckBenchmark.self, DeltaBenchmark.self],
        defaultSubcommand: ApplyBenchmark.self)

    static func main() async {
        setvbuf(stdout, nil, _IOLBF, 0)  // figures appear as they are measured, also through a pipe
        do {
            var command = try parseAsRoot()
            if var command = command as? AsyncParsableCommand { try await command.run() } else { try command.run() }
        } catch {
            exit(withError: error)
        }
    }
}

/// Benchmark: merging remote slot states through the store vs a plain upsert.
struct ApplyBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Rows/s of applying N remote slot states (merge + cursor) vs a plain SQLite upsert of the same rows.",
        discussion: "Example: swift run -c release syncbench apply --slots 100000 --batch 5000")

    @Option(help: "How many slot states to apply.") var slots = 100_000
    @Option(help: "Slot states per transaction (one sync batch).") var batch = 5_000
    @Option(help: "Repetitions; min and median are printed.") var repetitions = 3
    @Option(help: "Directory for the scratch databases.") var scratch = FileManager.default.temporaryDirectory.path

    func run() throws {
        let peer = ReplicaID(hex: "0123456789abcdef0123456789abcdef")!
        let changes = SyntheticDataset.slotChanges(count: slots, replica: peer)
        print("apply: \(slots) slot states in batches of \(batch), \(repetitions) repetitions")
        var figures = SideBySide(count: slots, unit: "rows/s", storeLabel: "store apply", baselineLabel: "plain upsert")
        for repetition in 1...repetitions {
            try withScratchStore(in: scratch) { store in
                try store.withWriteTransaction { db in
                    try db.execute(sql: """
                        CREATE TABLE plain_slots(collection TEXT NOT NULL, record TEXT NOT NULL, field TEXT NOT NULL, element TEXT NOT NULL,
                            state BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY(collection, record, field, element)) WITHOUT ROWID;
                        CREATE UNIQUE INDEX plain_slots_seq ON plain_slots(seq);
                        """)
                }
                let encoded = changes.map { SlotStateCodec.encode($0.state) }
                var seq: Int64 = 0
                let plain = try timed {
                    for start in stride(from: 0, to: changes.count, by: batch) {
                        try store.withWriteTransaction { db in
                            // Prepared once, bound through the C API: the fastest plain upsert from Swift.
                            let statement = try db.cachedStatement(sql: """
                                INSERT INTO plain_slots(collection, record, field, element, state, seq) VALUES (?, ?, ?, ?, ?, ?)
                                ON CONFLICT(collection, record, field, element) DO UPDATE SET state = excluded.state, seq = excluded.seq
                                """).sqliteStatement
                            let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
                            for index in start..<min(start + batch, changes.count) {
                                let key = changes[index].key
                                seq += 1
                                for (column, text) in [key.collection, key.record, key.field, key.element].enumerated() {
                                    sqlite3_bind_text(statement, Int32(column + 1), text, -1, transient)
                                }
                                encoded[index].withUnsafeBytes { _ = sqlite3_bind_blob(statement, 5, $0.baseAddress, Int32($0.count), transient) }
                                sqlite3_bind_int64(statement, 6, seq)
                                guard sqlite3_step(statement) == SQLITE_DONE else { throw ValidationError("plain upsert failed") }
                                sqlite3_reset(statement)
                            }
                        }
                    }
                }
                var cursor: UInt64 = 0
                let stored = try timed {
                    for start in stride(from: 0, to: changes.count, by: batch) {
                        cursor += 1
                        try store.apply(Array(changes[start..<min(start + batch, changes.count)]), from: peer, cursor: cursor)
                    }
                }
                figures.record(repetition: repetition, store: stored, baseline: plain)
            }
        }
        figures.printSummary()
    }
}
