import Foundation
#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
private let systemClose = Glibc.close
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
private let systemClose = Darwin.close
#endif

/// The highest dot counter this database has issued under each of its
/// replica ids, kept in a small file beside it (`data.db.counter`), outside
/// the database: one line `REPLICA-HEX COUNTER` per id, newest last, at most
/// `maxLines` (the oldest go first).
///
/// A database file overwritten in place by an older copy (`cp backup.db
/// data.db`, a file-system rollback) keeps its inode, so `FileIdentity`
/// cannot see it; but its counter is then below the mark of its replica id,
/// and reissuing those counters would collide with dots peers already hold,
/// or be taken by them as already seen and lost. On open, a counter below
/// the mark of the same replica makes the store take a new replica id
/// (replication-model §3.3). Keeping every id's mark catches a copy from
/// before a renewal too. The mark is raised after each local write commits,
/// under an exclusive `flock` (so `syncd` and `syncctl` writing at once never
/// lower it); a missing, torn or stale (lower) mark only misses a
/// detection, it never causes a false one.
enum CounterMark {
    static let maxLines = 64

    static func path(for database: String) -> String { database + ".counter" }

    /// Every replica's mark in the file, oldest first (unreadable lines skipped).
    static func marks(in text: String) -> [(replica: ReplicaID, counter: UInt64)] {
        text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 2, let replica = ReplicaID(hex: String(parts[0])), let counter = UInt64(parts[1]) else { return nil }
            return (replica, counter)
        }
    }

    /// The file's text with `counter` recorded for `replica`: raised, never
    /// lowered; the replica's line moves last; at most `maxLines` lines.
    static func raising(_ text: String, replica: ReplicaID, to counter: UInt64) -> String? {
        var all = marks(in: text)
        let index = all.firstIndex { $0.replica == replica }
        if let index, all[index].counter >= counter, index == all.count - 1 { return nil }
        let kept = index.map { max(all.remove(at: $0).counter, counter) } ?? counter
        all.append((replica, kept))
        return all.suffix(maxLines).map { "\($0.replica.hex) \($0.counter)\n" }.joined()
    }

    /// The mark of `replica`, if the file has a readable one.
    static func read(_ replica: ReplicaID, for database: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: path(for: database), encoding: .utf8) else { return nil }
        return marks(in: text).last { $0.replica == replica }?.counter
    }

    /// Raises the mark of `replica` to `counter`. Throws (with the errno's
    /// text) when the file cannot be opened, locked or written.
    static func write(_ replica: ReplicaID, _ counter: UInt64, for database: String) throws {
        let file = path(for: database)
        let fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MarkError(file: file, step: "open", errno: errno) }
        defer { _ = systemClose(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw MarkError(file: file, step: "lock", errno: errno) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = systemRead(fd, &buffer, buffer.count)
            if count < 0 { throw MarkError(file: file, step: "read", errno: errno) }
            if count == 0 { break }
            bytes += buffer.prefix(count)
            if bytes.count > 64 * 1_024 { bytes = []; break }  // not ours: start over
        }
        guard let text = raising(String(decoding: bytes, as: UTF8.self), replica: replica, to: counter) else { return }
        let out = Array(text.utf8)
        guard ftruncate(fd, 0) == 0 else { throw MarkError(file: file, step: "truncate", errno: errno) }
        let written = out.withUnsafeBytes { pwrite(fd, $0.baseAddress, out.count, 0) }
        guard written == out.count else { throw MarkError(file: file, step: "write", errno: errno) }
    }

    /// Whether the database (at `counter` under `replica`) went back in time.
    static func isBehind(replica: ReplicaID, counter: UInt64, for database: String) -> Bool {
        guard let mark = read(replica, for: database) else { return false }
        return counter < mark
    }

    struct MarkError: Error, CustomStringConvertible {
        let file: String
        let step: String
        let errno: Int32
        var description: String { "cannot \(step) the counter mark \(file): \(String(cString: strerror(errno)))" }
    }
}
