import ArgumentParser
import Foundation
import SyncCore
import TestSupport

/// Benchmarks 3, 4 and 7 on one pair of real daemons: the initial sync of N
/// records over loopback TLS, one changed field afterwards, and `syncctl`
/// queries on the filled database.
struct SyncBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Initial sync of N records between two syncd over loopback TLS, one-field changes, and syncctl queries.",
        discussion: """
            A source daemon is filled with N synthetic agreements (8 slots each); an
            empty daemon then pulls them all, once per repetition. Printed beside it:
            the raw TLS throughput of the same number of bytes, and the store's own
            apply rate for the same slots (the fill). Then single-field changes are
            timed until the peer has them, at N and at 10,000 records; then
            `syncctl get` and `syncctl list --where status=active` against sqlite3.

            Example: swift run -c release syncbench sync --records 1000000
            """)

    @Option(help: "Records in the source daemon.") var records = 100_000
    @Option(help: "Repetitions of the initial sync; min and median are printed.") var repetitions = 3
    @Option(help: "Single-field changes to time.") var changes = 11
    @Flag(help: "Skip the syncctl-vs-sqlite3 queries.") var skipQueries = false
    @Option(help: ArgumentHelp("Stop the target (SIGSTOP) for this many ms of every second of the initial sync: a slow peer. 0: never.",
                               discussion: "The source's peak RSS shows whether a peer that stops reading makes the sender queue."))
    var throttleTarget = 0

    func run() async throws {
        let root = TemporaryDirectory("syncbench")
        let source = try await BenchDaemons.prepared("source", in: root)
        print("sync: filling the source daemon with \(records) records (\(records * 8) slots)")
        let fill = try BenchDaemons.fill(source, records: records)
        print("  applied in \(fill.f1) s: \((Double(records * 8) / fill).f0) slots/s through Store.apply (benchmark 2's path)")

        var seconds: [Double] = [], bytes: [Double] = [], sourceRSS: [Double] = [], targetRSS: [Double] = []
        var target: DaemonProcess?
        for repetition in 1...repetitions {
            // Pulling every change, as before joining by snapshot (`syncbench join` measures that).
            let pair = try await BenchDaemons.prepared("target-\(repetition)", in: root, extraConfig: BenchDaemons.pullOnly)
            try connect([(pair, source)])
            try await source.start()
            let started = ContinuousClock.now
            try await pair.start()
            let throttle = throttleTarget > 0 ? Self.throttle(pair, stoppedMillis: throttleTarget) : nil
            let caughtUp = try await Self.caughtUp(pair, with: source, timeout: .seconds(3_600))
            if let throttle { throttle.cancel(); _ = await throttle.value }
            guard caughtUp else { throw HarnessError("target did not catch up:\n\(pair.log(last: 20))") }
            let elapsed = (ContinuousClock.now - started).seconds
            guard try pair.digest() == source.digest() else { throw HarnessError("digests differ after the initial sync") }
            try await Task.sleep(for: .seconds(1.2))  // traffic is accounted every 500 ms
            let traffic = try BenchDaemons.traffic(of: pair)
            seconds.append(elapsed)
            bytes.append(Double(traffic))
            sourceRSS.append(BenchDaemons.peakRSS(of: source) ?? .nan)
            targetRSS.append(BenchDaemons.peakRSS(of: pair) ?? .nan)
            print("  run \(repetition): \(elapsed.f2) s, \((Double(records) / elapsed).f0) records/s, \((Double(traffic) / 1_048_576).f1) MB on the wire,"
                  + " peak RSS source \(sourceRSS.last!.f0) MB, target \(targetRSS.last!.f0) MB")
            if repetition == repetitions {
                target = pair
            } else {
                try await pair.stop()
                try await source.stop()
                try? FileManager.default.removeItem(at: pair.directory)
            }
        }
        let tls = try await RawTLS.measure(bytes: Int(median(bytes)), repetitions: 3)
        let syncMedian = median(seconds)
        print("initial sync of \(records) records: best \((Double(records) / seconds.min()!).f0) records/s, median \((Double(records) / syncMedian).f0) records/s  (aim: >= 40000)")
        print("  raw TLS, same \((median(bytes) / 1_048_576).f1) MB over loopback: median \(tls.f2) s; sync time / raw TLS time: \((syncMedian / tls).f1)x")
        print("  store apply of the same slots (fill): \(fill.f2) s; sync time / apply time: \((syncMedian / fill).f2)x")
        print("  peak RSS: source \(sourceRSS.max()!.f0) MB, target \(targetRSS.max()!.f0) MB  (aim: <= 300 MB each)")

        guard let target else { return }
        let atN = try await OneChange.measure(from: source, to: target, count: changes, label: "\(records) records")
        try await target.stop()
        try await source.stop()
        if records != 10_000 {
            let small = try await OneChange.pair(records: 10_000, in: root)
            let at10k = try await OneChange.measure(from: small.source, to: small.target, count: changes, label: "10000 records")
            try await small.target.stop()
            try await small.source.stop()
            print("one changed field at \(records) vs 10000 records: bytes \((atN.bytes / at10k.bytes).f2)x, time \((atN.seconds / at10k.seconds).f2)x  (aim: <= 1.2x; < 2 KB, < 100 ms)")
        }
        if !skipQueries { try QueryBenchmark.compare(database: source.directory.appendingPathComponent("data.db").path, records: records) }
    }

    /// Stops and continues `daemon` (SIGSTOP / SIGCONT) every second, stopped
    /// `stoppedMillis` of it, until cancelled; leaves it running.
    static func throttle(_ daemon: DaemonProcess, stoppedMillis: Int) -> Task<Void, Never> {
        let stopped = min(stoppedMillis, 990)
        return Task {
            guard let pid = daemon.pid else { return }
            defer { kill(pid, SIGCONT) }
            while !Task.isCancelled {
                kill(pid, SIGSTOP)
                try? await Task.sleep(for: .milliseconds(stopped))
                kill(pid, SIGCONT)
                try? await Task.sleep(for: .milliseconds(1_000 - stopped))
            }
        }
    }

    /// Polls the target's status until its puller is caught up with the source's highest seq.
    static func caughtUp(_ target: DaemonProcess, with source: DaemonProcess, timeout: Duration) async throws -> Bool {
        let highest = try source.store().highestSeq()
        return try await eventually(timeout: timeout, every: .milliseconds(50)) {
            guard let peer = try target.status().peers.first else { return false }
            return peer.caughtUp && peer.cursor >= highest
        }
    }
}
