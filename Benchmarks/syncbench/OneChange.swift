import Foundation
import SyncCore
import TestSupport

/// Benchmark 4: one changed field on a replica of N records — bytes on the
/// wire (both directions, both daemons' view) and time until the peer reads it.
enum OneChange {
    struct Figures {
        let bytes: Double
        let seconds: Double
    }

    /// A running, caught-up pair: `source` filled with `records`, `target` synced from it.
    static func pair(records: Int, in root: TemporaryDirectory) async throws -> (source: DaemonProcess, target: DaemonProcess) {
        let source = try await BenchDaemons.prepared("small-source", in: root)
        try BenchDaemons.fill(source, records: records)
        let target = try await BenchDaemons.prepared("small-target", in: root)
        try connect([(target, source)])
        try await source.start()
        try await target.start()
        guard try await SyncBenchmark.caughtUp(target, with: source, timeout: .seconds(600)) else { throw HarnessError("small pair did not sync") }
        return (source, target)
    }

    /// Makes `count` single-field edits on `source` (as `syncctl set` does:
    /// a local transaction, then a nudge over the control socket) and times
    /// each until `target`'s database shows it; medians are printed.
    static func measure(from source: DaemonProcess, to target: DaemonProcess, count: Int, label: String) async throws -> Figures {
        let writer = try source.store(), reader = try target.store()
        let records = try reader.recordCounts()["agreements"] ?? 1
        var bytes: [Double] = [], seconds: [Double] = []
        try await Task.sleep(for: .seconds(1.2))
        for change in 0..<count {
            let ref = RecordRef(collection: "agreements", id: SyntheticDataset.id((records / 2 + change * 7_919) % records))
            let title = "Changed title \(change) \(UUID().uuidString.prefix(8))"
            let before = try BenchDaemons.traffic(of: source) + BenchDaemons.traffic(of: target)
            let started = ContinuousClock.now
            _ = try writer.update(ref, [.set("title", .text(title))], author: "bench")
            LocalWriteNudge.send(controlSocket: source.directory.appendingPathComponent("control.sock").path)
            guard try await eventually(timeout: .seconds(30), every: .microseconds(200), { try reader.record(ref)?.value("title") == .text(title) }) else {
                throw HarnessError("the change did not reach the target")
            }
            seconds.append((ContinuousClock.now - started).seconds)
            try await Task.sleep(for: .seconds(1.2))  // traffic is accounted every 500 ms
            bytes.append(Double(try BenchDaemons.traffic(of: source) + BenchDaemons.traffic(of: target) - before) / 2)
        }
        let figures = Figures(bytes: median(bytes), seconds: median(seconds))
        print("one changed field at \(label): median \(figures.bytes.f0) bytes on the wire, \((figures.seconds * 1_000).f1) ms until the peer has it"
              + " (min \((seconds.min()! * 1_000).f1) ms, max \((seconds.max()! * 1_000).f1) ms)")
        return figures
    }
}
