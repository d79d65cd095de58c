import Foundation

/// The highest dot counter this database has issued, kept in a small file
/// beside it (`data.db.counter`), outside the database.
///
/// A database file overwritten in place by an older copy (`cp backup.db
/// data.db`, a file-system rollback) keeps its inode, so `FileIdentity`
/// cannot see it; but its counter is then below the mark, and reissuing
/// those counters would collide with dots peers already hold, or be taken
/// by them as already seen and lost. On open, a counter below the mark of
/// the same replica makes the store take a new replica id
/// (replication-model §3.3). The mark is written after each local write
/// commits, atomically; a missing or stale (lower) mark only misses a
/// detection, it never causes a false one.
enum CounterMark {
    static func path(for database: String) -> String { database + ".counter" }

    /// The mark, if there is a readable one: replica and counter.
    static func read(for database: String) -> (replica: ReplicaID, counter: UInt64)? {
        guard let text = try? String(contentsOfFile: path(for: database), encoding: .utf8) else { return nil }
        let parts = text.split(separator: " ")
        guard parts.count == 2, let replica = ReplicaID(hex: String(parts[0])),
              let counter = UInt64(parts[1].trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return (replica, counter)
    }

    /// Records `counter` for `replica` (never lowers the mark of the same replica).
    static func write(_ replica: ReplicaID, _ counter: UInt64, for database: String) {
        if let current = read(for: database), current.replica == replica, current.counter >= counter { return }
        try? Data("\(replica.hex) \(counter)\n".utf8).write(to: URL(fileURLWithPath: path(for: database)), options: .atomic)
    }

    /// Whether the database (at `counter` under `replica`) went back in time.
    static func isBehind(replica: ReplicaID, counter: UInt64, for database: String) -> Bool {
        guard let mark = read(for: database), mark.replica == replica else { return false }
        return counter < mark.counter
    }
}
