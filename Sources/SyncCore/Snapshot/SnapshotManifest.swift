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

    public static func url(for snapshot: URL) -> URL { snapshot.appendingPathExtension("manifest.json") }

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
    /// The current database could not be made one self-contained file, or kept aside.
    case databaseBusy(String)
    /// Another program (no `syncctl`: it would hold `store.lock`) has the database open, if idle.
    case databaseOpenElsewhere(String, pids: [Int32])
    /// Another program opened the database while the restore ran: the old file was put back.
    case databaseOpenedDuringRestore(String, pids: [Int32])
    /// A database file could not be locked against other programs for the swap.
    case cannotLock(String, reason: String)
    case cannotKeepAside(String, reason: String)
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
        case .databaseBusy(let path): "another process holds \(path) open (the sqlite3 shell, Datasette, a running syncctl?), so its last changes cannot be folded into the file: close it and try again. Nothing was changed."
        case .databaseOpenElsewhere(let path, let pids): "another program\(Self.naming(pids)) has \(path) open (the sqlite3 shell, Datasette, a script?): what it wrote after the restore would be lost or mixed into the restored file, so close it and try again. Nothing was changed."
        case .databaseOpenedDuringRestore(let path, let pids): "another program\(Self.naming(pids)) opened \(path) while the restore ran: the database was put back as it was, and nothing was restored. Close it and try again."
        case .cannotLock(let path, let reason): "cannot lock \(path) against other programs while the restore swaps the files (\(reason)); nothing was changed. Keep the data directory on a local file system (docs/operations.md, \"Files\")."
        case .cannotKeepAside(let path, let reason): "cannot keep the current database aside as \(path) (\(reason)); nothing was changed. On file systems without hard links (FAT, exFAT, some network shares), copy data.db somewhere safe, remove it, and restore again."
        }
    }
}
