import Foundation
#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
private let systemWrite = Glibc.write
private let systemClose = Glibc.close
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
private let systemWrite = Darwin.write
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
/// before a renewal too, and a renewal retires the old id (its mark goes to
/// the top, so a copy that comes back to it is caught whatever its counter).
/// The mark is raised after each local write commits, under an exclusive
/// `flock` (so `syncd` and `syncctl` writing at once never lower it); a
/// missing or stale (lower) mark only misses a detection, it never causes a
/// false one.
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

    /// Raises the mark of `replica` to `counter`. Under an exclusive `flock`
    /// on the mark file (re-taken if another writer replaced the file while
    /// this one waited), the new text goes to a temporary file renamed over
    /// the mark, so a crash or a full disk leaves the old mark whole. Throws
    /// (with the errno's text) when the mark cannot be read or replaced.
    static func write(_ replica: ReplicaID, _ counter: UInt64, for database: String) throws {
        let file = path(for: database)
        for _ in 0..<maxReplacedRetries {
            let fd = open(file, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw MarkError(file: file, step: "open", errno: errno) }
            defer { _ = systemClose(fd) }
            guard flock(fd, LOCK_EX) == 0 else { throw MarkError(file: file, step: "lock", errno: errno) }
            var locked = stat(), current = stat()
            guard fstat(fd, &locked) == 0 else { throw MarkError(file: file, step: "stat", errno: errno) }
            if stat(file, &current) != 0 || current.st_ino != locked.st_ino || current.st_dev != locked.st_dev { continue }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4_096)
            while true {
                let count = systemRead(fd, &buffer, buffer.count)
                if count < 0 { throw MarkError(file: file, step: "read", errno: errno) }
                if count == 0 { break }
                bytes += buffer.prefix(count)
                if bytes.count > 64 * 1_024 { bytes = []; break }  // not a mark: start over
            }
            guard let text = raising(String(decoding: bytes, as: UTF8.self), replica: replica, to: counter) else { return }
            let temporary = file + ".\(getpid()).tmp"
            let out = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard out >= 0 else { throw MarkError(file: temporary, step: "create", errno: errno) }
            let data = Array(text.utf8)
            let written = data.withUnsafeBytes { systemWrite(out, $0.baseAddress, data.count) }
            let writeErrno = errno
            _ = systemClose(out)
            guard written == data.count else {
                unlink(temporary)
                throw MarkError(file: temporary, step: "write", errno: writeErrno)
            }
            guard rename(temporary, file) == 0 else {
                let renameErrno = errno
                unlink(temporary)
                throw MarkError(file: file, step: "replace", errno: renameErrno)
            }
            return
        }
        throw MarkError(file: file, step: "lock (another writer replaced it \(maxReplacedRetries) times meanwhile)", errno: EAGAIN)
    }

    /// How often the mark may turn out replaced by another writer after
    /// this one took its lock before the write gives up (and throws).
    static let maxReplacedRetries = 100

    /// Marks `replica` as retired: no copy of the database may come back to
    /// it, whatever its counter (after a renewal, the id issues no more dots).
    static func retire(_ replica: ReplicaID, for database: String) throws {
        try write(replica, UInt64.max, for: database)
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
