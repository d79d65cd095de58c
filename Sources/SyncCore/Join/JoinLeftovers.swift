import Foundation
import GRDB
import Logging

extension Store {
    /// The name a join gives the copy of the database it keeps aside until
    /// the swap's transaction names it `data.db.before-restore-…`
    /// (`adoptJoinSnapshot`).
    static let joinAsideStagingPrefix = "joining-aside-"

    /// What `keepLeftoverJoinAsides` did with one leftover staging copy.
    public enum LeftoverJoinAside: Equatable, Sendable {
        /// Named as a database kept aside: merged after the next successful sync.
        case keptAside(String)
        /// Not a whole copy of a store (a copy cut short): removed.
        case removed(String)
        /// Could not be renamed: left where it is, for the next start.
        case left(String, reason: String)
    }

    /// Makes each staging copy a crash left in `directory` (`joining-aside-…`)
    /// a database kept aside, so the next successful sync merges it back
    /// (replication-model §4.6). Such a copy is the database as it was
    /// before a join: if the join did not commit, merging it changes
    /// nothing (merging is idempotent); if it did commit and a power cut
    /// lost the copy's new name, it is the only place left of what this
    /// replica alone held. A copy that is not a whole store (the backup was
    /// cut short, so the join never began) is removed: data.db still holds
    /// everything it would have held. Call at start, before anything else
    /// removes leftovers named `joining-…`.
    @discardableResult
    public static func keepLeftoverJoinAsides(in directory: URL, wall: UInt64, logger: Logger) -> [LeftoverJoinAside] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted().filter { name in
            name.hasPrefix(joinAsideStagingPrefix) && !["-wal", "-shm", "-journal"].contains { name.hasSuffix($0) }
        }
        var outcomes: [LeftoverJoinAside] = []
        for name in names {
            let path = directory.appendingPathComponent(name).path
            guard let replica = wholeStoreCopy(at: path) else {
                removeDatabaseFiles(path)
                logger.notice("removed a copy of the database that a join cut short had begun (the join never started: data.db holds everything)",
                              metadata: ["file": "\(name)"])
                outcomes.append(.removed(name))
                continue
            }
            let aside = Snapshots.keptAsideName(in: directory, at: wall)
            do {
                guard rename(path, aside.path) == 0 else { throw AtomicFile.Failure(path: path, reason: String(cString: strerror(errno))) }
                for suffix in ["-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }
                try AtomicFile.syncDirectory(of: aside.path)
                logger.notice("kept aside the database as it was before a join a crash interrupted; it is merged back after the next sync", metadata: [
                    "file": "\(aside.lastPathComponent)", "was": "\(name)", "replica": "\(replica)"])
                outcomes.append(.keptAside(aside.lastPathComponent))
            } catch {
                logger.error("could not keep aside the database as it was before an interrupted join; it stays as it is until the next start", metadata: [
                    "file": "\(name)", "error": "\(error)"])
                outcomes.append(.left(name, reason: "\(error)"))
            }
        }
        return outcomes
    }

    /// The replica id of the store at `path` once it is one self-contained
    /// file, or nil when it is not a whole store. Opening it rolls back what
    /// a backup cut short left (its hot journal), which leaves no store.
    private static func wholeStoreCopy(at path: String) -> ReplicaID? {
        do {
            let queue = try DatabaseQueue(path: path)
            defer { try? queue.close() }
            let replica = try queue.read { db in try db.tableExists("sync_meta") && db.tableExists("sync_records") ? try db.replicaID() : nil }
            // A backup that stopped before its copy left WAL mode (what it
            // copied) folds back into the file, as the merge expects it.
            try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
            return replica
        } catch {
            return nil
        }
    }
}
