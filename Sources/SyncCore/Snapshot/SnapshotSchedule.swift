import Foundation
import Logging

/// The daemon's scheduled snapshots: every `interval_minutes`, a snapshot in
/// the configured directory, verified; older ones pruned beyond `retain`,
/// oldest first, never deleting the only verified one.
///
/// A snapshot that fails verification is no backup: it is moved into
/// `failed/` beside them (so it is never listed, counted or restored from)
/// and kept there for a report, the newest failed one only. Without that, a
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
        sweepLeftovers(now: Date())
        let url = directory.appendingPathComponent(Snapshots.defaultName())
        let started = ContinuousClock.now
        let manifest: SnapshotManifest
        do {
            manifest = try Snapshots.create(from: store, to: url)
        } catch {
            logger.error("scheduled snapshot failed", metadata: ["error": "\(error)"])
            return
        }
        var problems: [String]
        do { problems = try Snapshots.verify(url) } catch { problems = ["it could not be verified: \(error)"] }
        guard problems.isEmpty else {
            let aside = setAside(url)
            logger.error("scheduled snapshot failed verification: it is no backup and was moved aside for a report (only the newest failed one is kept); the verified snapshots are kept. Run `syncctl check`", metadata: [
                "file": "\(aside?.path ?? "removed")", "problems": "\(problems.prefix(3))"])
            return
        }
        logger.info("scheduled snapshot taken", metadata: ["file": "\(url.lastPathComponent)", "records": "\(manifest.records)",
                                                         "bytes": "\(manifest.bytes)", "seconds": "\(String(format: "%.2f", (ContinuousClock.now - started).seconds))"])
        prune(newestVerified: url, device: manifest.deviceID)
    }

    /// The folder, inside the snapshot directory, of failed snapshots.
    public static let failedFolder = "failed"

    /// Moves a snapshot that failed verification into `failed/` (its
    /// manifest first: a crash between the two leaves the snapshot where it
    /// was, to be pruned as before), then removes the failed snapshots there
    /// that syncd named (`Snapshots.defaultName`, and their manifests), all
    /// but this one: files of other names are left alone. `failed` must be
    /// a directory of its own, not a link (to another daemon's snapshots,
    /// say). Returns where it went; nil when it could not be moved, and then
    /// it is removed (a failed snapshot is never left among the verified ones).
    func setAside(_ url: URL) -> URL? {
        let folder = directory.appendingPathComponent(Self.failedFolder)
        let target = folder.appendingPathComponent(url.lastPathComponent)
        var manifestMoved = false
        do {
            // Not following a link: its type as it stands in the directory.
            if let type = (try? FileManager.default.attributesOfItem(atPath: folder.path))?[.type] as? FileAttributeType, type != .typeDirectory {
                throw CocoaError(.fileWriteFileExists, userInfo: [NSFilePathErrorKey: folder.path, NSLocalizedDescriptionKey: "\(folder.path) is not a directory of its own"])
            }
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            manifestMoved = (try? FileManager.default.moveItem(at: SnapshotManifest.url(for: url), to: SnapshotManifest.url(for: target))) != nil
            try FileManager.default.moveItem(at: url, to: target)
        } catch {
            logger.warning("could not move a failed snapshot aside; removing it", metadata: ["file": "\(url.path)", "error": "\(error)"])
            // Inside `failed` only what was moved there: through a link
            // refused above, a name could be another daemon's manifest.
            for file in [url, SnapshotManifest.url(for: url)] + (manifestMoved ? [SnapshotManifest.url(for: target)] : []) {
                try? FileManager.default.removeItem(at: file)
            }
            return nil
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in Self.failedToRemove(names, keeping: target.lastPathComponent) {
            let old = folder.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: old)
            try? FileManager.default.removeItem(at: SnapshotManifest.url(for: old))
            logger.info("removed an older failed snapshot", metadata: ["file": "\(old.path)"])
        }
        return target
    }

    /// Of the files `names` in `failed/`, those to remove: the snapshots
    /// named as syncd names them and their manifests (one a crash left
    /// alone too), but `kept`'s (the one just set aside; by identity, not by
    /// the time in its name, which a clock set back would put below an
    /// older one's).
    static func failedToRemove(_ names: [String], keeping kept: String) -> [String] {
        let manifest = SnapshotManifest.nameSuffix
        return names.filter { name in
            let snapshot = name.hasSuffix(manifest) ? String(name.dropLast(manifest.count)) : name
            return Snapshots.dateOfDefaultName(snapshot) != nil && !Array(snapshot.utf8).elementsEqual(Array(kept.utf8))
        }
    }

    /// How old a snapshot's `.partial` copy must be before a round removes
    /// it: a crash in the middle of a snapshot leaves one of the database's
    /// size, and a daemon that crashes in a loop would fill the disk with
    /// them. A copy takes seconds (a million records: about 1.3 GB, one
    /// backup step); an hour leaves a `syncctl snapshot create` into the
    /// same directory alone unless it was stopped that long.
    static let leftoverSeconds: TimeInterval = 3_600

    /// Of the files in the snapshot directory (`name`, last modified), what
    /// a crash left: `.partial` copies older than `leftoverSeconds`, SQLite's
    /// files beside them, and the manifest written for such a copy (written
    /// before the copy takes its name) when no snapshot has that name.
    /// Nothing else: a manifest alone is never removed (one restored by a
    /// copy tool may come before its snapshot).
    static func leftovers(_ files: [(name: String, modified: Date)], now: Date) -> [String] {
        let names = Set(files.map { Array($0.name.utf8) })
        let partial = "." + Snapshots.fileExtension + ".partial"
        var removed: [String] = []
        for file in files where file.name.hasSuffix(partial) && now.timeIntervalSince(file.modified) > leftoverSeconds {
            let snapshot = String(file.name.dropLast(".partial".count))
            removed.append(file.name)
            for suffix in ["-journal", "-wal", "-shm"] where names.contains(Array((file.name + suffix).utf8)) { removed.append(file.name + suffix) }
            let manifest = snapshot + SnapshotManifest.nameSuffix
            if !names.contains(Array(snapshot.utf8)), names.contains(Array(manifest.utf8)) { removed.append(manifest) }
        }
        return removed
    }

    func sweepLeftovers(now: Date) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let files = names.compactMap { name -> (name: String, modified: Date)? in
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
            return (attributes?[.modificationDate] as? Date).map { (name, $0) }
        }
        for name in Self.leftovers(files, now: now) {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            logger.info("removed what an interrupted snapshot left", metadata: ["file": "\(name)"])
        }
    }

    /// Whose a listed snapshot is, as far as its manifest says.
    enum Owner: Equatable {
        /// Its manifest names this device (nil: none).
        case device(String?)
        /// No manifest beside it (a crash mid-prune, an older build's copy).
        case noManifest
        /// A manifest that cannot be read (another user's file, say).
        case unreadableManifest
    }

    /// Removes this daemon's snapshots beyond `retain` (`toPrune`).
    /// `device`: the device the newest verified one's manifest names.
    func prune(newestVerified: URL, device: String?) {
        let listed = Snapshots.list(in: directory).map { snapshot -> (name: String, owner: Owner) in
            if let manifest = snapshot.manifest { return (snapshot.url.lastPathComponent, .device(manifest.deviceID)) }
            let there = FileManager.default.fileExists(atPath: SnapshotManifest.url(for: snapshot.url).path)
            return (snapshot.url.lastPathComponent, there ? .unreadableManifest : .noManifest)
        }
        for name in Self.toPrune(listed, retain: retain, newest: newestVerified.lastPathComponent, device: device) {
            let old = directory.appendingPathComponent(name)
            // The manifest first: a crash between leaves a snapshot without
            // one, listed last and pruned next, never a manifest alone.
            try? FileManager.default.removeItem(at: SnapshotManifest.url(for: old))
            try? FileManager.default.removeItem(at: old)
            logger.info("pruned an old snapshot", metadata: ["file": "\(name)"])
        }
    }

    /// Of the snapshots `listed` newest first, those to remove: this
    /// daemon's beyond the newest `retain`, never `newest`. This daemon's:
    /// a manifest naming `device`, or no device (a store of none, or a
    /// manifest of before device ids), or no manifest at all. Not: a
    /// manifest naming another device (two analysts' daemons sharing a
    /// snapshot directory), or one that cannot be read; those are neither
    /// counted nor removed.
    static func toPrune(_ listed: [(name: String, owner: Owner)], retain: Int, newest: String, device: String?) -> [String] {
        let mine = listed.filter { snapshot in
            switch snapshot.owner {
            case .noManifest: return true
            case .unreadableManifest: return false
            case .device(let theirs):
                guard let device, let theirs else { return true }
                return Array(theirs.utf8) == Array(device.utf8)
            }
        }
        return mine.dropFirst(max(1, retain)).map(\.name).filter { !Array($0.utf8).elementsEqual(Array(newest.utf8)) }
    }
}
