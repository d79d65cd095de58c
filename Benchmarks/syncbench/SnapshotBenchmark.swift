import ArgumentParser
import Foundation
import GRDB
import SyncCore

/// Benchmark: snapshot create and verify time and size on a large database.
struct SnapshotBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Time and size of `snapshot create` and `snapshot verify` on a database of N records.",
        discussion: "Example: swift run -c release syncbench snapshot --records 1000000")

    @Option(help: "Records in the database (3 slots each: existence, title, kind).") var records = 1_000_000
    @Option(help: "Directory for the scratch files.") var scratch = FileManager.default.temporaryDirectory.path
    @Option(help: "SQL edits queued (one UPDATE of this many agreements) before the snapshot; the restore then also goes into a copy of the database holding them, as a restore of this database's own snapshot while they wait.")
    var queuedSQLEdits = 0

    func run() throws {
        try withScratchStore(in: scratch) { store in
            let origin = ReplicaID(hex: "0123456789abcdef0123456789abcdef")!
            let fillStart = Date()
            let chunk = 20_000
            for first in stride(from: 0, to: records, by: chunk) {
                try store.apply(SyntheticDataset.records(min(chunk, records - first), first: first, slotsPerRecord: 3, replica: origin), from: origin)
            }
            let databaseBytes = try FileManager.default.attributesOfItem(atPath: store.path)[.size] as? Int ?? 0
            print(String(format: "filled %d records (%d slots) in %.1f s; database %.1f MB (+ WAL)", records, records * 3,
                         Date().timeIntervalSince(fillStart), Double(databaseBytes) / 1e6))

            if queuedSQLEdits > 0 {
                let client = try DatabaseQueue(path: store.path)
                try client.write { db in
                    try db.execute(sql: "UPDATE agreements SET title = 'queued ' || id WHERE id IN (SELECT id FROM agreements ORDER BY id LIMIT ?)",
                                   arguments: [queuedSQLEdits])
                }
                try client.close()
                print("queued \(queuedSQLEdits) SQL edits (not taken up)")
            }
            let snapshot = URL(fileURLWithPath: store.path).deletingLastPathComponent().appendingPathComponent("bench.\(Snapshots.fileExtension)")
            let createStart = Date()
            let manifest = try Snapshots.create(from: store, to: snapshot)
            let created = Date().timeIntervalSince(createStart)
            print(String(format: "snapshot create: %.2f s, %.1f MB, %d records, %d slots", created, Double(manifest.bytes) / 1e6, manifest.records, manifest.slots))

            let verifyStart = Date()
            let problems = try Snapshots.verify(snapshot)
            let verified = Date().timeIntervalSince(verifyStart)
            print(String(format: "snapshot verify: %.2f s (checksum, integrity_check, every slot and its history), %d problems", verified, problems.count))

            // Restore into an empty data directory, beside its baseline: a
            // plain copy of the snapshot file. The phases: verifying, then
            // staging (copy, new replica id, queues declared again,
            // collection tables written from the records), then the copy in.
            let base = URL(fileURLWithPath: store.path).deletingLastPathComponent()
            let copyStart = Date()
            try FileManager.default.copyItem(at: snapshot, to: base.appendingPathComponent("plain-copy.db"))
            let copied = Date().timeIntervalSince(copyStart)
            let target = base.appendingPathComponent("restored")
            try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
            // With queued edits: into a database holding them too (each in
            // both queues: the carry keeps one of each).
            if queuedSQLEdits > 0 { try FileManager.default.copyItem(at: snapshot, to: target.appendingPathComponent("data.db")) }
            var marks: [(phase: Snapshots.RestorePhase, at: Date)] = []
            let restoreStart = Date()
            let outcome = try Snapshots.restore(snapshot, into: DataDirectory(url: target), deviceID: nil, progress: { phase, _ in
                if marks.last?.phase != phase { marks.append((phase, Date())) }
            })
            let restored = Date().timeIntervalSince(restoreStart)
            let before = (marks.first { $0.phase == .copyingIn }?.at ?? Date()).timeIntervalSince(restoreStart)
            // Staging: what the restore does between its verification (as long
            // as the one above) and the copy in.
            print(String(format: "snapshot restore: %.2f s (verifying and staging %.2f s, of which staging about %.2f s; copying in %.2f s); baseline, a plain copy of the file: %.2f s (%.1fx)",
                         restored, before, before - verified, restored - before, copied, restored / copied))
            if queuedSQLEdits > 0 { print("SQL edits carried over: \(outcome.sqlEditsCarried)") }
        }
    }
}
