import Foundation
import Logging

/// The daemon's scheduled snapshots: every `interval_minutes`, a snapshot in
/// the configured directory, verified; older ones pruned beyond `retain`,
/// oldest first, never deleting the only verified one.
public struct SnapshotScheduler: Sendable {
    let store: Store
    let directory: URL
    let interval: Duration
    let retain: Int
    let logger: Logger

    public init(store: Store, directory: URL, intervalMinutes: Int, retain: Int, logger: Logger) {
        self.store = store
        self.directory = directory
        interval = .seconds(intervalMinutes * 60)
        self.retain = max(1, retain)
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            try await Blocking.run { self.takeOne() }
        }
    }

    /// One round: snapshot, verify, prune. Failures are logged, never fatal.
    public func takeOne() {
        let url = directory.appendingPathComponent(Snapshots.defaultName())
        let started = ContinuousClock.now
        do {
            let manifest = try Snapshots.create(from: store, to: url)
            let problems = try Snapshots.verify(url)
            guard problems.isEmpty else {
                logger.error("scheduled snapshot failed verification; older ones are kept", metadata: ["file": "\(url.path)", "problems": "\(problems.prefix(3))"])
                return
            }
            logger.info("scheduled snapshot taken", metadata: ["file": "\(url.lastPathComponent)", "records": "\(manifest.records)",
                                                             "bytes": "\(manifest.bytes)", "seconds": "\(String(format: "%.2f", (ContinuousClock.now - started).seconds))"])
            prune(newestVerified: url)
        } catch {
            logger.error("scheduled snapshot failed", metadata: ["error": "\(error)"])
        }
    }

    func prune(newestVerified: URL) {
        let snapshots = Snapshots.list(in: directory)
        for old in snapshots.dropFirst(retain) where old.url != newestVerified {
            try? FileManager.default.removeItem(at: old.url)
            try? FileManager.default.removeItem(at: SnapshotManifest.url(for: old.url))
            logger.info("pruned an old snapshot", metadata: ["file": "\(old.url.lastPathComponent)"])
        }
    }
}
