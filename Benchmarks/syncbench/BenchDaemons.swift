import Foundation
import SyncCore
import TestSupport

/// Real `syncd` processes for the daemon benchmarks, configured for
/// measuring: no periodic digests or pings inside a measurement, the
/// shipped poll interval for writes made by other processes.
enum BenchDaemons {
    static let settings = """
        reconnect:
          initial_ms: 100
          max_ms: 1000
        keepalive_seconds: 600
        idle_timeout_seconds: 1200
        digest_interval_seconds: 3600
        """
    /// A target that pulls every change (the first round's initial sync).
    static let pullOnly = "join:\n  min_behind_seqs: 0"
    /// A target that joins by snapshot at every benchmark size.
    static let joining = "join:\n  min_behind_seqs: 1000"

    /// A daemon whose data directory is initialised (identity, config,
    /// seeded database) and which is stopped again.
    static func prepared(_ name: String, in root: TemporaryDirectory, extraConfig: String = "") async throws -> DaemonProcess {
        let daemon = try DaemonProcess(name, in: root, settings: settings, extraConfig: extraConfig)
        try await daemon.start()
        try await daemon.stop()
        return daemon
    }

    /// The synthetic replica whose records fill benchmark databases.
    static let author = ReplicaID(hex: "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e")!

    /// Applies `records` synthetic agreements (eight slots each) to a stopped
    /// daemon's database, printing progress; returns the seconds it took.
    @discardableResult
    static func fill(_ daemon: DaemonProcess, records: Int, batch: Int = 5_000) throws -> Double {
        let store = try daemon.store()
        var cursor: UInt64 = 0
        return try timed {
            for first in stride(from: 0, to: records, by: batch) {
                cursor += 1
                let changes = SyntheticDataset.records(min(batch, records - first), first: first, replica: author)
                try store.apply(changes, from: author, cursor: cursor)
                if records >= 100_000, (first / batch) % 20 == 19 {
                    print("  filled \(first + batch) of \(records) records")
                }
            }
        }
    }

    /// Peak resident set of a running process in MB (`VmHWM`), Linux only.
    static func peakRSS(of daemon: DaemonProcess) -> Double? {
        guard let pid = daemon.pid,
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kilobytes / 1_024
    }

    /// Bytes both ways over all of a daemon's peer connections so far.
    static func traffic(of daemon: DaemonProcess) throws -> UInt64 {
        try daemon.status().peers.reduce(0) { $0 + $1.bytesIn + $1.bytesOut }
    }
}

extension Double {
    var f0: String { String(format: "%.0f", self) }
    var f1: String { String(format: "%.1f", self) }
    var f2: String { String(format: "%.2f", self) }
}
