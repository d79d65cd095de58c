import Crypto
import Foundation

/// What a snapshot says about itself, in `NAME.manifest.json` beside it.
public struct SnapshotManifest: Codable, Sendable, Equatable {
    public static let currentFormat = 1

    public var formatVersion: Int
    /// The snapshot file's name (in the same directory as the manifest).
    public var file: String
    public var replica: String
    public var deviceID: String?
    public var createdAt: Date
    public var highestSeq: UInt64
    public var schemaHash: String
    public var records: Int
    public var slots: Int
    public var bytes: Int
    /// SHA-256 of the snapshot file, hex.
    public var sha256: String

    public static func url(for snapshot: URL) -> URL { snapshot.appendingPathExtension(String(nameSuffix.dropFirst())) }

    /// What a manifest's file name adds to its snapshot's.
    static let nameSuffix = ".manifest.json"

    public static func load(for snapshot: URL) throws -> SnapshotManifest {
        let url = url(for: snapshot)
        guard let data = try? Data(contentsOf: url) else { throw SnapshotError.noManifest(url.path) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(SnapshotManifest.self, from: data) } catch { throw SnapshotError.badManifest(url.path, "\(error)") }
    }

    func write(beside snapshot: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(self).write(to: Self.url(for: snapshot), options: .atomic)
    }

    /// SHA-256 of a file, read in 1 MiB chunks.
    static func sha256(of url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return Hex.encode(hasher.finalize())
    }
}

public enum SnapshotError: Error, CustomStringConvertible, Equatable {
    /// " (pid 12, 34)", or nothing when no pid is known.
    static func naming(_ pids: [Int32]) -> String {
        pids.isEmpty ? "" : " (pid \(pids.map(String.init).joined(separator: ", ")))"
    }

    case noManifest(String)
    case badManifest(String, String)
    case failedVerification(String, [String])
    case daemonRunning(String)
    case exists(String)
    /// Another connection holds the database (in a transaction, or in WAL
    /// mode since its first statement), and no process can be named.
    case databaseBusy(String)
    /// Another program (no `syncctl`: it would hold `store.lock`) holds the database.
    case databaseOpenElsewhere(String, pids: [Int32])
    case cannotKeepAside(String, reason: String)
    /// The restore runs as another account than the data directory's owner.
    case notOwner(String, owner: UInt32, running: UInt32)
    /// The snapshot could not be copied into the live file (rolled back).
    case cannotCopyIn(String, reason: String)
    /// The SQL edits waiting in the database being replaced could not be read.
    case cannotCarrySQLEdits(String, reason: String)
    /// The snapshot holds another dataset than the data directory.
    case otherDataset(String, held: String, here: String)

    public var description: String {
        switch self {
        case .otherDataset(let path, let held, let here): "snapshot \(path) holds the dataset '\(SchemaLineage.display(held))', and this data directory holds '\(SchemaLineage.display(here))': a snapshot is restored or merged only into its own dataset (restore it into a data directory started with `syncctl init --schema` of its team's schema)"
        case .noManifest(let path): "no manifest at \(path): a snapshot is the database file plus its .manifest.json (made by `syncctl snapshot create`)"
        case .badManifest(let path, let reason): "unreadable manifest \(path): \(reason)"
        case .failedVerification(let path, let problems): "snapshot \(path) failed verification:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
        case .daemonRunning(let socket): "the daemon is running (\(socket) answers). Stop it first (Ctrl-C, `kill -TERM`, or `systemctl stop syncd`), restore, then start it again: it catches up from its peers."
        case .exists(let path): "\(path) already exists; choose another name"
        case .databaseBusy(let path): "another connection holds \(path) (the sqlite3 shell, Datasette, a script of another account?), and the restore needs the file to itself for a moment: close it and try again. Nothing was changed."
        case .databaseOpenElsewhere(let path, let pids): "another program\(Self.naming(pids)) has \(path) open and holds it (the sqlite3 shell, Datasette, a script?), and the restore needs the file to itself for a moment: close it and try again. Nothing was changed."
        case .notOwner(let path, let owner, let running): "\(path) belongs to uid \(owner), and this restore runs as uid \(running): the files it creates (the copy of the database it keeps aside, SQLite's journal) would be out of the owner's reach, so its daemon could not merge that copy back or recover from a crash. Run it as the owner, e.g. `sudo -u \\#\(owner) syncctl snapshot restore …`. Nothing was changed."
        case .cannotCarrySQLEdits(let path, let reason): "could not read the SQL edits waiting or refused in \(path) (\(reason)), which a restore carries into the restored database; nothing was changed. Keep a copy of \(path) if you want them (its sync_sql_edits_* tables hold each edit's row before and after), then restore with --abandon-unreadable-sql-edits."
        case .cannotCopyIn(let path, let reason): "could not copy the snapshot into \(path) (\(reason)); the copy was rolled back and nothing was changed. Check the free space of the data directory (a restore needs room for a copy of the current database, one of the snapshot, and a journal of the pages it replaces) and try again."
        case .cannotKeepAside(let path, let reason): "cannot keep the current database aside as \(path) (\(reason)); nothing was changed. Check the free space and permissions of the data directory (on file systems without hard links, FAT, exFAT, some network shares, an unreadable data.db cannot be kept aside: copy it somewhere safe, remove it, and restore again)."
        }
    }
}
