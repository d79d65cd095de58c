import Foundation

/// Seed records, written as if by one fixed replica with fixed clocks so that
/// replicas seeded apart hold identical slots and digests (replication-model §8).
public struct SeedData: Sendable {
    public struct Record: Sendable {
        public let ref: RecordRef
        public let edits: [FieldEdit]
        /// The counter of the seed dot that writes this record, given in the
        /// file: a record keeps its dot when others are added, removed or
        /// reordered, so a later release never reissues a seed dot with other
        /// content (replication-model §8).
        public let counter: UInt64
    }

    public let records: [Record]

    /// Seed versions are dated from this instant (2025-11-24T00:00:00Z) plus
    /// the record's dot counter in milliseconds.
    public static let baseMillis: UInt64 = 1_763_942_400_000
    public static let author = "seed"

    /// Parses seed JSON (`{"records": [{"ref": "c/id", "fields": {...}}]}`),
    /// checking every value against `schema`.
    public static func parse(_ data: Data, schema: Schema, source: String) throws -> SeedData {
        struct File: Decodable {
            struct Record: Decodable {
                let dot: UInt64?
                let ref: String
                let fields: [String: SeedValue]
            }
            let records: [Record]
        }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw SchemaError.invalidSchema(path: source, reason: "seed data is not valid: \(error)")
        }
        var records: [Record] = []
        var seen = Set<RecordRef>()
        var counters = Set<UInt64>()
        for entry in file.records {
            guard let ref = RecordRef(parsing: entry.ref) else {
                throw SchemaError.invalidSchema(path: source, reason: "seed record '\(entry.ref)' is not COLLECTION/ID")
            }
            guard seen.insert(ref).inserted else {
                throw SchemaError.invalidSchema(path: source, reason: "seed record \(ref) appears twice")
            }
            guard let counter = entry.dot, (1...ReceiveLimits.maxCounter).contains(counter) else {
                throw SchemaError.invalidSchema(path: source, reason: "seed record \(ref) needs its own \"dot\": a counter from 1 that no other seed record uses (the next free one for a new record)")
            }
            guard counters.insert(counter).inserted else {
                throw SchemaError.invalidSchema(path: source, reason: "seed record \(ref) reuses dot \(counter): every seed record needs its own, forever (give a new record the next free one)")
            }
            let collection = try schema.requireCollection(ref.collection)
            try RecordIDRule.check(ref.id)
            var edits: [FieldEdit] = []
            for (name, json) in entry.fields.sorted(by: { $0.key < $1.key }) {
                let field = try collection.requireField(name)
                switch json {
                case .array(let members):
                    for member in members { edits.append(.add(name, try field.validateMember(member))) }
                case .string(let text):
                    edits.append(.set(name, try field.validate(.text(text))))
                case .number(let number):
                    edits.append(.set(name, try field.validate(.int(number))))
                case .bool(let flag):
                    edits.append(.set(name, try field.validate(.bool(flag))))
                }
            }
            let missing = collection.requiredFields.filter { field in !edits.contains { if case .set(field.name, _) = $0 { true } else { false } } }
            if !missing.isEmpty { throw SchemaError.missingRequired(record: ref.description, fields: missing.map(\.name)) }
            records.append(Record(ref: ref, edits: edits, counter: counter))
        }
        return SeedData(records: records)
    }

    /// The shipped critical-minerals seed.
    public static func criticalMinerals(schema: Schema = .criticalMinerals) throws -> SeedData {
        try parse(Data(EmbeddedDataset.seedJSON.utf8), schema: schema, source: "embedded seed data")
    }

    /// The slot states the seed stands for: a record is written by dot
    /// `(seed, counter)` at `baseMillis + counter - 1`, whatever its place in the file.
    public func slotChanges() -> [SlotChange] {
        var changes: [SlotChange] = []
        for record in records {
            let dot = Dot(replica: .seed, counter: record.counter)
            let hlc = HLC(millis: Self.baseMillis + record.counter - 1, logical: 0)
            func state(_ value: Value) -> SlotState {
                SlotMerge.write(Version(dot: dot, hlc: hlc, author: Self.author, value: value), over: .empty)
            }
            let ref = record.ref
            changes.append(SlotChange(key: SlotKey(collection: ref.collection, record: ref.id, field: SlotKey.existsField), state: state(.bool(true))))
            for edit in record.edits {
                switch edit {
                case .set(let field, let value):
                    changes.append(SlotChange(key: SlotKey(collection: ref.collection, record: ref.id, field: field), state: state(value)))
                case .add(let field, let member):
                    changes.append(SlotChange(key: SlotKey(collection: ref.collection, record: ref.id, field: field, element: member), state: state(.bool(true))))
                case .remove(let field, let member):
                    changes.append(SlotChange(key: SlotKey(collection: ref.collection, record: ref.id, field: field, element: member), state: state(.bool(false))))
                }
            }
        }
        return changes
    }
}

/// The JSON values seed files use.
enum SeedValue: Decodable, Sendable {
    case string(String)
    case number(Int64)
    case bool(Bool)
    case array([String])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let flag = try? container.decode(Bool.self) { self = .bool(flag) }
        else if let number = try? container.decode(Int64.self) { self = .number(number) }
        else if let text = try? container.decode(String.self) { self = .string(text) }
        else { self = .array(try container.decode([String].self)) }
    }
}

extension Store {
    /// Merges the seed into this store (idempotent: seeding twice changes nothing).
    @discardableResult
    public func seed(_ seed: SeedData) throws -> ApplyReport {
        try apply(seed.slotChanges(), from: nil)
    }
}
