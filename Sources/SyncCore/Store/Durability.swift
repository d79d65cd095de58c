import Foundation
import GRDB

extension Store {
    /// Puts every commit made so far on the disk: one commit under
    /// `synchronous = FULL` syncs the whole WAL, every earlier frame in it.
    /// (With `NORMAL` a commit survives a crash of the process but not
    /// always a power cut until the next checkpoint.) For a caller about to
    /// remove the only other copy of what it merged. Done through SQLite:
    /// a descriptor of the database opened and closed here would drop this
    /// process's POSIX locks on it, and another process's connection would
    /// then take itself for the last one and remove the WAL under ours.
    public func syncCommittedToDisk() throws {
        let normal = options.synchronousFull ? "FULL" : "NORMAL"
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            defer { try? db.execute(sql: "PRAGMA synchronous = \(normal)") }
            // A value that changes, so the commit writes a frame (SQLite skips an unchanged cell).
            try db.inTransaction(.immediate) {
                let count = Int64.fromDatabaseValue(try db.meta(MetaKey.durableSyncs)) ?? 0
                try db.setMeta(MetaKey.durableSyncs, count &+ 1)
                return .commit
            }
        }
    }
}
