import ArgumentParser
import Foundation
import SyncCore

/// Benchmark: snapshot create and verify time and size on a large database.
struct SnapshotBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Time and size of `snapshot create` and `snapshot verify` on a database of N records.",
        discussion: "Example: swift run -c release syncbench snapshot --records 1000000")

    @Option(help: "Records in the database (3 slots each: existence, title, kind).") var records = 1_000_000
    @Option(help: "Directory for the scratch files.") var scratch = FileManager.default.temporaryDirectory.path

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

            let snapshot = URL(fileURLWithPath: store.path).deletingLastPathComponent().appendingPathComponent("bench.\(Snapshots.fileExtension)")
            let createStart = Date()
            let manifest = try Snapshots.create(from: store, to: snapshot)
            let created = Date().timeIntervalSince(createStart)
            print(String(format: "snapshot create: %.2f s, %.1f MB, %d records, %d slots", created, Double(manifest.bytes) / 1e6, manifest.records, manifest.slots))

            let verifyStart = Date()
            let problems = try Snapshots.verify(snapshot)
            let verified = Date().timeIntervalSince(verifyStart)
            print(String(format: "snapshot verify: %.2f s (checksum, integrity_check, every slot and its history), %d problems", verified, problems.count))
        }
    }
}
