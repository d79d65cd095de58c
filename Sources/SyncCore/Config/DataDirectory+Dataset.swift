import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which dataset a data directory holds (docs/operations.md, "Another
/// team's dataset"): the shipped one, or another team's, started with
/// `syncctl init --schema FILE [--seed FILE]` (or `syncd --schema …` on its
/// first start). The seed schema's name is the dataset's lineage
/// (`SchemaLineage`), which peers compare at hello.
///
/// Files, in the order they are written:
/// 1. `seed.json` — the seed records given with `--seed`, checked against the
///    schema (without `--seed`, an empty list: so a `schema.json` removed
///    later is always noticed, by the `seed.json` left beside it);
/// 2. `schema.json` — the seed schema: written last, it is what makes the
///    directory another team's, so a crash before it leaves a directory
///    that holds no dataset yet (the next `init --schema` starts over);
/// 3. `seed-pending`, then `data.db` — by `openStore`, which removes the
///    mark once the seed records are in (a seeding cut short is redone).
///
/// A `seed.json` without `schema.json` is refused, never read as the shipped dataset.
/// (Only removing both would go unnoticed.)
extension DataDirectory {
    /// The seed schema of another team's dataset (absent: the shipped one).
    public var schemaPath: String { url.appendingPathComponent("schema.json").path }
    /// Its seed records (an empty list when it started empty).
    public var seedPath: String { url.appendingPathComponent("seed.json").path }
    /// Present while a new database waits for its seed records.
    public var seedPendingPath: String { url.appendingPathComponent("seed-pending").path }
    public var seedPending: Bool { FileManager.default.fileExists(atPath: seedPendingPath) }

    /// The schema this directory's dataset grew from: `schema.json` here
    /// when present, else the shipped `Schema.criticalMinerals`. A damaged
    /// `schema.json`, or a `seed.json` without one, is an error naming the
    /// file: opening the database on the shipped schema instead would mix
    /// two datasets.
    public func seedSchema() throws -> Schema {
        let files = FileManager.default
        guard files.fileExists(atPath: schemaPath) else {
            if files.fileExists(atPath: seedPath) { throw DatasetError.seedWithoutSchema(directory: path, databaseExists: databaseExists) }
            return .criticalMinerals
        }
        do {
            let schema = try Schema.load(contentsOf: URL(fileURLWithPath: schemaPath))
            try SchemaLineage.checkSeed(schema, source: schemaPath)
            return schema
        } catch {
            throw DatasetError.damagedSchema(path: schemaPath, cause: error)
        }
    }

    /// The seed schema of the dataset this directory holds; nil while it
    /// holds none (no `schema.json` and no database).
    func heldSchema() throws -> Schema? {
        guard FileManager.default.fileExists(atPath: schemaPath) || databaseExists else { return nil }
        return try seedSchema()
    }

    /// The records a new database on `schema` is seeded with: `seed.json`
    /// for another team's dataset (nil without one: a directory started
    /// before the empty list was written), else the shipped seed.
    func seedRecords(for schema: Schema) throws -> SeedData? {
        let files = FileManager.default
        guard files.fileExists(atPath: schemaPath) else { return try SeedData.criticalMinerals(schema: schema) }
        guard files.fileExists(atPath: seedPath) else { throw DatasetError.schemaWithoutSeed(directory: path) }
        return try SeedData.parse(try Self.read(seedPath), schema: schema, source: seedPath)
    }

    /// Removes the `seed-pending` mark (the seed records are in). Not
    /// synced: a removal lost in a power cut only means seeding once more.
    func clearSeedPending() throws {
        guard unlink(seedPendingPath) == 0 || errno == ENOENT else {
            throw AtomicFile.Failure(path: seedPendingPath, reason: String(cString: strerror(errno)))
        }
    }

    /// What `startDataset` did.
    public enum DatasetStart: Sendable, Equatable {
        /// The directory held no dataset: `schema.json` (and `seed.json`) written.
        case started
        /// It holds this very schema already (by canonical hash): nothing written,
        /// and a `--seed` given now is not used.
        case alreadyHeld
    }

    /// Starts another team's dataset here: checks `schemaFile` (and
    /// `seedFile` against it) before anything is created, then keeps copies
    /// as `seed.json` and `schema.json` (see the type's comment for the
    /// order). A directory that holds a dataset already is never moved to
    /// another: the same schema again is `.alreadyHeld`, another is refused
    /// with what to do. On a failure after the directory was created here,
    /// what this call wrote is removed again.
    public func startDataset(schemaFile: String, seedFile: String?) throws -> DatasetStart {
        let schemaData = try Self.read(schemaFile)
        let schema = try Schema.parse(schemaData, source: schemaFile)
        try SchemaLineage.checkSeed(schema, source: schemaFile)
        var seedData = Self.emptySeed
        if let seedFile {
            seedData = try Self.read(seedFile)
            _ = try SeedData.parse(seedData, schema: schema, source: seedFile)
        }
        if let held = try heldSchema() {
            guard held.hash != schema.hash else { return .alreadyHeld }
            throw DatasetError.holdsAnotherDataset(directory: path, held: held, shipped: !FileManager.default.fileExists(atPath: schemaPath),
                                                   given: schema, file: schemaFile)
        }
        let newDirectory = !FileManager.default.fileExists(atPath: path)
        try create()
        do {
            // Over any seed.json left by an earlier start cut short: it must not seed this dataset.
            try AtomicFile.write(seedData, to: seedPath, mode: 0o644)
            try AtomicFile.write(schemaData, to: schemaPath, mode: 0o644)
        } catch {
            unlink(seedPath)
            if newDirectory { rmdir(path) }
            throw error
        }
        return .started
    }

    /// The `seed.json` of a dataset started without `--seed`.
    static let emptySeed = Data("{\"records\": []}\n".utf8)

    private static func read(_ file: String) throws -> Data {
        do { return try Data(contentsOf: URL(fileURLWithPath: (file as NSString).expandingTildeInPath)) } catch {
            throw DatasetError.unreadable(path: file, cause: error)
        }
    }
}

/// Why a data directory's dataset cannot be started or opened; each
/// message names the file and says what to do.
public enum DatasetError: Error, CustomStringConvertible {
    case unreadable(path: String, cause: any Error)
    /// `schema.json` in a data directory cannot be read or checked.
    case damagedSchema(path: String, cause: any Error)
    /// `seed.json` without `schema.json`.
    case seedWithoutSchema(directory: String, databaseExists: Bool)
    /// `--seed` without `--schema`.
    case seedOptionWithoutSchema
    /// A new database beside `schema.json` but no `seed.json` (an empty one is written by `init --schema` without `--seed`).
    case schemaWithoutSeed(directory: String)
    case holdsAnotherDataset(directory: String, held: Schema, shipped: Bool, given: Schema, file: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let cause):
            return "cannot read \(path): \((cause as NSError).localizedDescription)"
        case .damagedSchema(let path, let cause):
            return "\(cause). \(path) is the schema this data directory's dataset grew from (kept there by `init --schema`); syncd and syncctl do not open the database without it: put the team's schema file back in its place, unchanged"
        case .seedWithoutSchema(let directory, let databaseExists):
            return databaseExists
                ? "\(directory) holds seed.json but no schema.json, so its database was started on another team's schema, which is missing: put that schema file back as \(directory)/schema.json (the shipped schema would mix two datasets)"
                : "\(directory) holds seed.json but no schema.json: a `syncctl init --schema FILE --seed FILE` was cut short. Run it again with the same files, or remove seed.json to start the shipped dataset"
        case .schemaWithoutSeed(let directory):
            return "\(directory) holds schema.json but no seed.json, so the new database cannot get its seed records: put the team's seed.json back (or run `syncctl init --schema FILE [--seed FILE]` again with the same files); nothing was seeded"
        case .seedOptionWithoutSchema:
            return "--seed goes with --schema (the shipped dataset has its own seed records): give the team's schema file too, `--schema FILE --seed FILE`"
        case .holdsAnotherDataset(let directory, let held, let shipped, let given, let file):
            let holds = "the data directory \(directory) already holds the dataset '\(SchemaLineage.display(held.name))'\(shipped ? " (the shipped one)" : "")"
            if SchemaLineage.same(held.name, given.name) {
                return "\(holds), from another version of its schema than \(file) (hash \(held.hash.prefix(12)) here, \(given.hash.prefix(12)) in the file). A dataset keeps the seed schema it started with: leave --schema out to open it, or start a new data directory from \(file) (`--data-dir NEW --schema \(file)`)"
            }
            return "\(holds); \(file) is the schema of '\(SchemaLineage.display(given.name))'. A data directory holds one dataset for good: start '\(SchemaLineage.display(given.name))' in a new one (`--data-dir NEW --schema \(file)`), or leave --schema out to open this one"
        }
    }
}
