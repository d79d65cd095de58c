import ArgumentParser
import Foundation
import GRDB
@_spi(Testing) import SyncCore

/// The upgrade from format 1 (one row per slot) to record rows: how long the
/// first open of an old database takes and how much disk it needs while it
/// runs, beside SQLite copying the same slot rows into a new table.
struct MigrateBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Time and disk of the first open of a format-1 database (the move to record rows) vs SQLite copying the same rows.",
        discussion: "Example: swift run -c release syncbench migrate --records 100000")

    @Option(help: "Records in the database (8 slots each).") var records = 100_000
    @Option(help: "Repetitions of the move; min and median are printed.") var repetitions = 3
    @Option(help: "Directory for the scratch databases.") var scratch = FileManager.default.temporaryDirectory.path

    func run() throws {
        let directory = URL(fileURLWithPath: scratch).appendingPathComponent("syncbench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = directory.appendingPathComponent("format1.db").path
        let origin = ReplicaID(hex: "0123456789abcdef0123456789abcdef")!
        let changes = SyntheticDataset.records(records, replica: origin)
        print("migrate: \(records) records (\(changes.count) slots), \(repetitions) repetitions")

        let expected: StateDigest
        do {
            let store = try Store(path: original)
            let applySeconds = try timed {
                for start in stride(from: 0, to: changes.count, by: 40_000) {
                    try store.apply(Array(changes[start..<min(start + 40_000, changes.count)]), from: origin)
                }
            }
            expected = try store.digest()
            print(String(format: "for scale: applying the same slots to an empty store took %.2f s (%.0f rec/s)", applySeconds, Double(records) / applySeconds))
            try store.rewriteAsFormatOne()
        }
        try DatabaseQueue(path: original).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE); VACUUM")
        }
        let before = diskBytes(original)
        print("format-1 database: \(megabytes(before.database)) (one row per slot)")

        var moveTimes: [Double] = [], copyTimes: [Double] = []
        for repetition in 1...repetitions {
            let copyPath = directory.appendingPathComponent("copy.db").path
            try replace(copyPath, with: original)
            var moved: Store?
            let sampler = DiskSampler(path: copyPath)
            moveTimes.append(try timed { moved = try Store(path: copyPath) })
            let peak = sampler.stop()
            guard try moved?.digest() == expected else { throw ValidationError("the moved database's digest differs from the original's") }
            let after = try openDisk(copyPath)
            moved = nil

            let plainPath = directory.appendingPathComponent("plain.db").path
            try replace(plainPath, with: original)
            copyTimes.append(try timed { try plainCopy(plainPath) })
            print(String(format: "  run %d: first open %.2f s (%.0f rec/s), SQLite copy %.2f s, ratio %.2fx; on disk at most %@ during the move (database + WAL), then %@ + WAL %@ (%@ of the database free pages)",
                         repetition, moveTimes.last!, Double(records) / moveTimes.last!, copyTimes.last!, moveTimes.last! / copyTimes.last!,
                         megabytes(peak), megabytes(after.database), megabytes(after.wal), megabytes(after.free)))
            try? FileManager.default.removeItem(atPath: plainPath)
        }
        print(String(format: "first open (move to record rows): best %.2f s, median %.2f s (%.0f rec/s)", moveTimes.min()!, median(moveTimes), Double(records) / median(moveTimes)))
        print(String(format: "SQLite copy of sync_slots (INSERT … SELECT, drop): best %.2f s, median %.2f s", copyTimes.min()!, median(copyTimes)))
        print(String(format: "ratio (first open time / SQLite copy time, medians): %.2fx", median(moveTimes) / median(copyTimes)))
    }

    /// The baseline: SQLite reading every slot row and writing it into a new
    /// table with the same key, then dropping the old one, in one transaction.
    private func plainCopy(_ path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        try DatabasePool(path: path, configuration: configuration).write { db in
            try db.execute(sql: """
                CREATE TABLE slots_copy(
                    collection TEXT NOT NULL, record TEXT NOT NULL, field TEXT NOT NULL, element TEXT NOT NULL,
                    state BLOB NOT NULL, seq INTEGER NOT NULL, hash BLOB NOT NULL, bucket INTEGER NOT NULL,
                    conflicted INTEGER NOT NULL DEFAULT 0, echo BLOB,
                    PRIMARY KEY(collection, record, field, element)) WITHOUT ROWID;
                INSERT INTO slots_copy SELECT * FROM sync_slots;
                DROP TABLE sync_slots;
                """)
        }
    }

    /// The database file, how much of it is free pages, and the WAL.
    private func openDisk(_ path: String) throws -> (database: Int, free: Int, wal: Int) {
        let free = try DatabaseQueue(path: path).read { db in
            try Int.fetchOne(db, sql: "SELECT (SELECT freelist_count FROM pragma_freelist_count) * (SELECT page_size FROM pragma_page_size)") ?? 0
        }
        let sizes = diskBytes(path)
        return (sizes.database, free, sizes.wal)
    }

    private func replace(_ path: String, with source: String) throws {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        try FileManager.default.copyItem(atPath: source, toPath: path)
    }

    private func diskBytes(_ path: String) -> (database: Int, wal: Int) {
        (DiskSampler.bytes(path), DiskSampler.bytes(path + "-wal"))
    }

    private func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
}
