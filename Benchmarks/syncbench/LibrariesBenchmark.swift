import ArgumentParser
import Foundation
import SyncCore

/// Benchmark 6: the workloads of benchmarks 1, 2 and 4 in SyncCore (SQLite
/// on disk) beside Loro and Yrs (in memory, through their Python bindings).
struct LibrariesBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libraries",
        abstract: "SyncCore beside Loro and Yrs (pycrdt): full import, 1,000-change delta, bytes.",
        discussion: """
            Needs `pip install loro pycrdt` in the Python that runs
            Benchmarks/crdt-baselines/baselines.py (Benchmarks/run.sh makes a venv).

            Example: swift run -c release syncbench libraries --records 100000
            """)

    @Option(help: "Records in the document.") var records = 10_000
    @Option(help: "Records changed for the delta.") var changes = 1_000
    @Option(help: "Repetitions; min and median are printed.") var repetitions = 3
    @Option(help: "Python with loro and pycrdt (default: $SYNCBENCH_PYTHON, Benchmarks/crdt-baselines/.venv, python3).")
    var python: String?
    @Option(help: "The baseline script.") var script = "Benchmarks/crdt-baselines/baselines.py"
    @Option(help: "Directory for the scratch databases.") var scratch = FileManager.default.temporaryDirectory.path

    struct Row {
        var label: String
        var unit: String
        var values: [String: String] = [:]
    }

    func run() throws {
        print("libraries: \(records) records, \(changes)-change delta, \(repetitions) repetitions")
        let ours = try measureSyncCore()
        let theirs = try runBaselines()
        let columns = ["SyncCore (SQLite, durable)"] + theirs.map { "\($0["library"] as? String ?? "?") \($0["version"] as? String ?? "") (memory)" }
        func seconds(_ figures: [String: Any], _ key: String) -> String {
            guard let value = figures[key] as? [String: Double], let median = value["median"], let best = value["min"] else { return "-" }
            return "\((median * 1_000).f1) ms (best \((best * 1_000).f1))"
        }
        func bytes(_ figures: [String: Any], _ key: String) -> String { (figures[key] as? Int).map { "\($0) B" } ?? "-" }
        let rows: [(String, (([String: Any]) -> String))] = [
            ("local write of \(records) records", { seconds($0, "build_s") }),
            ("full export (encode)", { seconds($0, "export_s") }),
            ("full export size", { bytes($0, "snapshot_bytes") }),
            ("full import (apply)", { seconds($0, "import_s") }),
            ("\(changes)-change delta export", { seconds($0, "delta_export_s") }),
            ("\(changes)-change delta size", { bytes($0, "delta_bytes") }),
            ("\(changes)-change delta import", { seconds($0, "delta_import_s") }),
            ("one changed field, delta size", { bytes($0, "one_change_bytes") }),
        ]
        let all = [ours] + theirs
        let widths = [34] + columns.map { max(26, $0.count + 1) }
        print(Display.pad("", widths[0]) + columns.enumerated().map { Display.pad($0.element, widths[$0.offset + 1]) }.joined())
        for (label, value) in rows {
            print(Display.pad(label, widths[0]) + all.enumerated().map { Display.pad(value($0.element), widths[$0.offset + 1]) }.joined())
        }
        for other in theirs {
            guard let name = other["library"] as? String, let theirImport = (other["import_s"] as? [String: Double])?["median"],
                  let ourImport = (ours["import_s"] as? [String: Double])?["median"] else { continue }
            print("SyncCore apply (durable) / \(name) import (memory): \((ourImport / theirImport).f2)x  (aim: < 1x)")
        }
    }

    /// SyncCore's figures in the shape the Python script prints.
    func measureSyncCore() throws -> [String: Any] {
        var times: [String: [Double]] = [:]
        var sizes: [String: Int] = [:]
        let rows = ImportBenchmark.rows(records)
        for repetition in 1...repetitions {
            try withScratchStore(in: scratch) { source in
                try withScratchStore(in: scratch) { peer in
                    let sourceReplica = try source.replicaID
                    times["build_s", default: []].append(try timed {
                        try ImportBenchmark.importAll(rows, into: source)
                    })
                    var batches: [SyncMessage.Batch] = []
                    var exported = 0
                    times["export_s", default: []].append(try timed { (batches, exported) = try Self.feed(of: source, since: 0) })
                    sizes["snapshot_bytes"] = exported
                    times["import_s", default: []].append(try timed {
                        for batch in batches { try peer.apply(batch.changes, from: sourceReplica, cursor: batch.cursor) }
                    })
                    let before = try source.highestSeq()
                    let changed = (0..<min(changes, records)).map { index -> RecordRow in
                        let row = rows[(index * 7_919) % records]
                        var cells = row.cells
                        cells["title"] = .scalar(.text("Changed title \(repetition) \(index)"))
                        return RecordRow(ref: row.ref, cells: cells, origin: row.origin)
                    }
                    _ = try source.importRows(changed, author: "bench")
                    var delta: [SyncMessage.Batch] = []
                    var deltaBytes = 0
                    times["delta_export_s", default: []].append(try timed { (delta, deltaBytes) = try Self.feed(of: source, since: before) })
                    sizes["delta_bytes"] = deltaBytes
                    times["delta_import_s", default: []].append(try timed {
                        for batch in delta { try peer.apply(batch.changes, from: sourceReplica, cursor: batch.cursor) }
                    })
                    let beforeOne = try source.highestSeq()
                    _ = try source.update(RecordRef(collection: "agreements", id: SyntheticDataset.id(records / 2)),
                                          [.set("title", .text("One change \(repetition)"))], author: "bench")
                    sizes["one_change_bytes"] = try Self.feed(of: source, since: beforeOne).bytes
                }
            }
        }
        var figures: [String: Any] = sizes
        for (key, values) in times { figures[key] = ["min": values.min()!, "median": median(values)] }
        return figures
    }

    /// The change feed since `cursor` as the daemon sends it: batches of up
    /// to 5,000 slots, each encoded as a (tabled) frame; returns them and their bytes.
    static func feed(of store: Store, since cursor: UInt64) throws -> (batches: [SyncMessage.Batch], bytes: Int) {
        var batches: [SyncMessage.Batch] = []
        var bytes = 0
        var cursor = cursor
        while true {
            let batch = try store.changes(since: cursor, maxCount: 5_000, maxBytes: 4 << 20)
            guard !batch.changes.isEmpty else { break }
            let message = SyncMessage.Batch(changes: batch.changes, cursor: batch.cursor, hasMore: batch.hasMore, highestSeq: batch.cursor, tabled: true)
            bytes += SyncMessageCodec.encode(.batch(message)).count + 4
            batches.append(message)
            cursor = batch.cursor
            if !batch.hasMore { break }
        }
        return (batches, bytes)
    }

    /// Runs the Python script; one decoded JSON object per library.
    func runBaselines() throws -> [[String: Any]] {
        let environment = ProcessInfo.processInfo.environment
        let interpreter = python ?? environment["SYNCBENCH_PYTHON"]
            ?? ["Benchmarks/crdt-baselines/.venv/bin/python"].first(where: FileManager.default.isExecutableFile(atPath:)) ?? "/usr/bin/env"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = (interpreter == "/usr/bin/env" ? ["python3"] : []) + [script, "--records", "\(records)", "--changes", "\(changes)", "--repetitions", "\(repetitions)"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            print("baselines: \(script) exited with \(process.terminationStatus); install them with `pip install loro pycrdt` (Benchmarks/run.sh does)")
            return []
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            if let error = object["error"] as? String { print("baselines: \(object["library"] ?? "?"): \(error)") ; return nil }
            return object
        }
    }
}

enum Display {
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
