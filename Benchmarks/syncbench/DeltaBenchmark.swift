import ArgumentParser
import Foundation
import GRDB
import SyncCore
import SyncSimulation
import TestSupport

/// Issue 24, aims 2 and 4: applying a 1,000-change delta (random records) on
/// a replica of N records beside plain SQLite upserts of the same rows, and
/// the size of the store beside a plain table of the same rows.
struct DeltaBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delta",
        abstract: "A 1,000-change delta applied on a replica of N records vs plain upserts; store size vs a plain table.",
        discussion: """
            Builds a source store of N synthetic agreements (import), a peer that pulled all of it, and a plain \
            SQLite table of the same rows (WAL, synchronous NORMAL, like the store). Each repetition changes the \
            title of `--changes` random records on the source and times the peer's apply of the delta (the feed \
            batches the daemon would send) beside one transaction upserting the same rows into the plain table.

            `--keep DIR` keeps the three databases there and reuses them on the next run with the same N \
            (building 1M records takes a few minutes).

            Example: swift run -c release syncbench delta --records 100000 --repetitions 3
            """)

    @Option(help: "Records in the replica.") var records = 100_000
    @Option(help: "Records changed per delta.") var changes = 1_000
    @Option(help: "Repetitions; min and median are printed.") var repetitions = 3
    @Option(help: "Unmeasured deltas first (both sides), so both read from a warm page cache.") var warmup = 1
    @Option(help: "Directory for the scratch databases (removed afterwards unless --keep).") var scratch = FileManager.default.temporaryDirectory.path
    @Option(help: "Keep the built databases in this directory and reuse them.") var keep: String?

    func run() throws {
        let directory = keep.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: scratch).appendingPathComponent("syncbench-delta-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(at: directory) } }
        let marker = directory.appendingPathComponent("built-\(records)")
        let built = FileManager.default.fileExists(atPath: marker.path)
        if !built {
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
                try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            }
        }
        let rows = ImportBenchmark.rows(records)
        print("delta: \(records) records, \(changes)-change deltas, \(repetitions) repetitions\(built ? " (databases reused from \(directory.path))" : "")")
        let source = try Store(path: directory.appendingPathComponent("source.db").path)
        let peer = try Store(path: directory.appendingPathComponent("peer.db").path)
        let plainPath = directory.appendingPathComponent("plain.db").path
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let plain = try DatabaseQueue(path: plainPath, configuration: configuration)
        try plain.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
        let sourceReplica = try source.replicaID
        if !built {
            let seconds = try timed {
                try ImportBenchmark.importAll(rows, into: source)
                try pull(into: peer, from: source, batchSize: 5_000, maxBytes: 4 << 20)
                try plain.write { db in
                    try db.execute(sql: ImportBenchmark.plainTable)
                    let insert = try db.makeStatement(sql: "INSERT INTO plain_agreements VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                    for row in rows { try insert.execute(arguments: StatementArguments(ImportBenchmark.plainColumns(row))) }
                }
            }
            _ = FileManager.default.createFile(atPath: marker.path, contents: Data())
            print(String(format: "  built the source (import), the peer (pulled it all) and the plain table in %.1f s", seconds))
        }

        // Aim 4: the size of the store beside a plain table of the same rows.
        source.checkpointAfterJoin()
        try plain.writeWithoutTransaction { _ = try Row.fetchAll($0, sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let storeBytes = Self.fileBytes(directory.appendingPathComponent("source.db").path)
        let plainBytes = Self.fileBytes(plainPath)
        print(String(format: "size: store %.1f MB, plain table %.1f MB, ratio %.2fx  (aim: <= 2.5x)",
                     Double(storeBytes) / 1e6, Double(plainBytes) / 1e6, Double(storeBytes) / Double(plainBytes)))

        var figures = SideBySide(count: changes, unit: "changes/s", storeLabel: "store apply of the delta", baselineLabel: "plain upsert")
        var generator = SeededRandom(seed: UInt64(records))
        for repetition in (1 - warmup)...repetitions {
            let before = try source.highestSeq()
            var picked = Set<Int>()
            while picked.count < min(changes, records) { picked.insert(Int(generator.next() % UInt64(records))) }
            let stamp = "\(UInt64(Date().timeIntervalSince1970 * 1_000)) \(repetition)"
            let changed = picked.sorted().map { index -> RecordRow in
                let row = rows[index]
                var cells = row.cells
                cells["title"] = .scalar(.text("Changed title \(stamp) \(index)"))
                return RecordRow(ref: row.ref, cells: cells, origin: row.origin)
            }
            _ = try source.importRows(changed, author: "bench")
            let (delta, deltaBytes) = try LibrariesBenchmark.feed(of: source, since: before)
            let slots = delta.reduce(0) { $0 + $1.changes.count }
            let stored = try timed {
                for batch in delta { try peer.apply(batch.changes, from: sourceReplica, cursor: batch.cursor) }
            }
            // The checkpoint the apply scheduled runs off it (WALCheckpointer):
            // waited for before the baseline, so the two never share the disk.
            let checkpointWait = timed { peer.waitForCheckpoints() }
            let baseline = try timed {
                try plain.write { db in
                    let upsert = try db.makeStatement(sql: """
                        INSERT INTO plain_agreements VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET title = excluded.title, kind = excluded.kind, status = excluded.status,
                            announced = excluded.announced, summary = excluded.summary, parties = excluded.parties, minerals = excluded.minerals
                        """)
                    for row in changed { try upsert.execute(arguments: StatementArguments(ImportBenchmark.plainColumns(row))) }
                }
            }
            guard repetition > 0 else {
                print(String(format: "  warm-up: store %.1f ms, plain upsert %.1f ms (not counted)", stored * 1_000, baseline * 1_000))
                continue
            }
            print(String(format: "  delta \(repetition): \(slots) slots, \(deltaBytes) bytes on the wire; then %.1f ms more of the store's checkpoint, off the apply", checkpointWait * 1_000))
            figures.record(repetition: repetition, store: stored, baseline: baseline)
        }
        figures.printSummary()
        print(String(format: "delta apply, median: store %.1f ms, plain upsert %.1f ms (aim: <= 3x, and at 1M within 1.5x of the 10k figure)",
                     median(figures.storeTimes) * 1_000, median(figures.baselineTimes) * 1_000))
    }

    /// A database's bytes: the file and its WAL.
    static func fileBytes(_ path: String) -> Int {
        [path, path + "-wal"].reduce(0) { total, file in
            total + ((try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0)
        }
    }
}
