import ArgumentParser
import Foundation
import SyncCore
import TestSupport

/// Aim 1 of issue 24: a new replica joining a peer that holds N records,
/// until it is caught up and serving, beside copying the peer's database
/// the plainest way (`sqlite3 .backup`, then the file over loopback TLS).
struct JoinBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "A new syncd joining a peer of N records by snapshot, beside sqlite3 .backup plus the file over loopback TLS.",
        discussion: """
            A source daemon is filled with N synthetic agreements (8 slots each). Each
            repetition starts a new daemon (seed only) that joins it by snapshot; the time
            runs from its start until its session with the source is caught up again
            under its new replica id, with equal digests. Baseline, in the same run:
            `sqlite3 data.db ".backup copy.db"` of the source's database plus sending
            that file's bytes over loopback TLS (NIO on both ends, as syncd).

            Example: swift run -c release syncbench join --records 1000000
            """)

    @Option(help: "Records in the source daemon.") var records = 100_000
    @Option(help: "Repetitions; min and median are printed.") var repetitions = 3

    func run() async throws {
        let root = TemporaryDirectory("syncbench-join")
        let source = try await BenchDaemons.prepared("source", in: root)
        print("join: filling the source daemon with \(records) records (\(records * 8) slots)")
        try BenchDaemons.fill(source, records: records)
        let sourceDB = source.directory.appendingPathComponent("data.db").path
        try await source.start()

        var joins: [Double] = [], backups: [Double] = [], copies: [Double] = [], targetRSS: [Double] = [], sourceRSS: [Double] = []
        var fileBytes = 0
        for repetition in 1...repetitions {
            // Baseline: the plainest copy of the same database, taken while the source runs.
            let copy = root.url.appendingPathComponent("backup-\(repetition).db")
            let backup = try timed {
                let result = try SQLiteShell.run(sourceDB, ".backup \(copy.path)")
                guard result.status == 0 else { throw HarnessError("sqlite3 .backup failed: \(result.stderr)") }
            }
            fileBytes = (try FileManager.default.attributesOfItem(atPath: copy.path)[.size] as? Int) ?? 0
            try? FileManager.default.removeItem(at: copy)
            let send = try await RawTLS.measure(bytes: fileBytes, repetitions: 1)
            backups.append(backup)
            copies.append(send)

            let target = try await BenchDaemons.prepared("target-\(repetition)", in: root, extraConfig: BenchDaemons.joining)
            try connect([(target, source)])
            try await source.setPeersAndWaitForReload([target.asPeer(dial: false)])
            let started = ContinuousClock.now
            try await target.start()
            guard try await SyncBenchmark.caughtUp(target, with: source, timeout: .seconds(3_600)),
                  try await eventually(timeout: .seconds(60), { target.log().contains("joined by snapshot") }) else {
                throw HarnessError("the target did not join by snapshot:\n\(target.log(last: 20))")
            }
            let elapsed = (ContinuousClock.now - started).seconds
            guard try target.digest() == source.digest() else { throw HarnessError("digests differ after the join") }
            let received = try target.status().peers.first?.slotsReceived ?? 0
            joins.append(elapsed)
            targetRSS.append(BenchDaemons.peakRSS(of: target) ?? .nan)
            sourceRSS.append(BenchDaemons.peakRSS(of: source) ?? .nan)
            let log = target.log().split(separator: "\n")
            let line = log.last { $0.contains("joined by snapshot") }.map(String.init) ?? ""
            let receivedLine = log.last { $0.contains("received a join snapshot") }.map(String.init) ?? ""
            // Where the join's time went, from the joiner's log: until the
            // snapshot was checked, and until it was adopted (the rest is
            // reconnecting and catching up).
            func figure(_ key: String, in line: String = line) -> String {
                line.range(of: #"(^|[ \[])"# + key + #"=[0-9.]+"#, options: .regularExpression)
                    .map { String(line[$0]).trimmingCharacters(in: CharacterSet(charactersIn: " [")) } ?? ""
            }
            let sentLine = source.log().split(separator: "\n").last { $0.contains("sent a join snapshot") }.map(String.init) ?? ""
            let check = [figure("snapshot_seconds", in: sentLine).replacingOccurrences(of: "snapshot_seconds", with: "peer_snapshot_seconds"),
                         figure("seconds", in: receivedLine).replacingOccurrences(of: "seconds", with: "until_received_seconds"),
                         figure("until_checked_seconds"), figure("seconds").replacingOccurrences(of: "seconds", with: "until_adopted_seconds")]
                .filter { !$0.isEmpty }.joined(separator: ", ")
            print("  run \(repetition): join \(elapsed.f2) s (\(check)), \((Double(records) / elapsed).f0) records/s, \(received) slots pulled after it;"
                  + " baseline \((backup + send).f2) s (.backup \(backup.f2) s + \((Double(fileBytes) / 1_048_576).f0) MB over TLS \(send.f2) s);"
                  + " peak RSS target \(targetRSS.last!.f0) MB, source \(sourceRSS.last!.f0) MB")
            try await target.stop()
            try? FileManager.default.removeItem(at: target.directory)
        }
        try await source.stop()
        let join = median(joins), baseline = median(backups) + median(copies)
        print("join by snapshot of \(records) records: median \(join.f2) s (best \(joins.min()!.f2) s) beside .backup + loopback copy \(baseline.f2) s:"
              + " \((join / baseline).f2)x  (aim: <= 3x\(records >= 1_000_000 ? ", and under 20 s" : ""))")
        print("  peak RSS: target \(targetRSS.max()!.f0) MB, source \(sourceRSS.max()!.f0) MB  (aim: <= 300 MB each)")
    }
}
