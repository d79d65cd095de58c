import Foundation
import Logging

/// The daemon's scheduled snapshots: every `interval_minutes`, a snapshot in
/// the configured directory, verified; older ones pruned beyond `retain`,
/// oldest first, never deleting the only verified one.
///
/// A snapshot that fails verification is no backup: it is moved into
/// `failed/` beside them (so it is never listed, counted or restored from)
/// and kept there for a report, the newest `failedKept` only. Without that, a
/// live database whose own digest is off would leave a full-size failed
/// snapshot every round until the disk filled, and once it was mended the
/// failed ones would count towards `retain` and push the verified ones out.
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
                let aside = setAside(url)
                logger.error("scheduled snapshot failed verification: it is no backup and was moved aside for a report (the newest failed one is kept); the verified snapshots are kept. Run `syncctl check`", metadata: [
                    "file": "\(aside?.path ?? url.path)", "problems": "\(problems.prefix(3))"])
                return
            }
            logger.info("scheduled snapshot taken", metadata: ["file": "\(url.lastPathComponent)", "records": "\(manifest.records)",
                                                             "bytes": "\(manifest.bytes)", "seconds": "\(String(format: "%.2f", (ContinuousClock.now - started).seconds))"])
            prune(newestVerified: url)
        } catch {
            logger.error("scheduled snapshot failed", metadata: ["error": "\(error)"])
        }
    }

    /// The folder, inside the snapshot directory, of failed snapshots.
    public static let failedFolder = "failed"
    /// Failed snapshots kept for a report (the newest).
    public static let failedKept = 1

    /// Moves a snapshot that failed verification, with its manifest, into
    /// `failed/`, and removes the failed ones there beyond `failedKept`.
    /// Returns where it went; nil when it could not be moved, and then it is
    /// removed (a failed snapshot is never left among the verified ones).
    func setAside(_ url: URL) -> URL? {
        let folder = directory.appendingPathComponent(Self.failedFolder)
        let target = folder.appendingPathComponent(url.lastPathComponent)
        var moved: URL?
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.moveItem(at: url, to: target)
            try? FileManager.default.moveItem(at: SnapshotManifest.url(for: url), to: SnapshotManifest.url(for: target))
            moved = target
        } catch {
            logger.warning("could not move a failed snapshot aside; removing it", metadata: ["file": "\(url.path)", "error": "\(error)"])
            try? FileManager.default.removeItem(at: url)
            try? FileManager.default.removeItem(at: SnapshotManifest.url(for: url))
        }
        // Names are the times they were taken (`Snapshots.defaultName`): newest last.
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix("." + Snapshots.fileExtension) }
        for name in Self.failedToRemove(names, keep: Self.failedKept) {
            let old = folder.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: old)
            try? FileManager.default.removeItem(at: SnapshotManifest.url(for: old))
            logger.info("removed an older failed snapshot", metadata: ["file": "\(old.path)"])
        }
        return moved
    }

    /// Of the failed snapshots `names` (named by the time they were taken),
    /// those beyond the newest `keep`.
    static func failedToRemove(_ names: [String], keep: Int) -> [String] {
        Array(names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.reversed().dropFirst(max(0, keep)))
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
