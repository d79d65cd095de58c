import Foundation
import GRDB

/// What `syncctl check` reports. Nothing here is repaired automatically:
/// each finding says what an analyst may want to fix.
public struct IntegrityReport: Sendable {
    public struct Dangling: Hashable, Sendable {
        public let record: RecordRef
        public let field: String
        public let target: String
    }

    public struct Missing: Hashable, Sendable {
        public let record: RecordRef
        public let field: String
    }

    public struct Future: Hashable, Sendable {
        public let key: SlotKey
        public let version: Version
        public let aheadMillis: UInt64
    }

    /// Received slots stored although they fail the local schema.
    public let schemaProblems: [SchemaProblem]
    /// References to records that do not exist (yet).
    public let danglingReferences: [Dangling]
    /// Existing records without a required field.
    public let missingRequired: [Missing]
    /// Versions dated beyond the drift cap from now.
    public let futureVersions: [Future]
    /// Peers that sent future-dated versions.
    public let clockReports: [ClockReport]
    /// Dots held with two contents (a reused replica id), merged deterministically.
    public let dotCollisions: [DotCollision]
    /// Times this database took a new replica id, newest first.
    public let replicaLog: [ReplicaLogEntry]

    public var isClean: Bool {
        schemaProblems.isEmpty && danglingReferences.isEmpty && missingRequired.isEmpty && futureVersions.isEmpty && dotCollisions.isEmpty
    }
}

extension Store {
    /// Scans the whole dataset once (O(slots)); meant for `syncctl check`.
    public func integrityReport() throws -> IntegrityReport {
        var existing = Set<RecordRef>()
        var listed: [ListedRecord] = []
        for collection in schema.tableCollections {
            let records = try list(collection.name)
            listed += records
            existing.formUnion(records.map(\.ref))
        }
        var dangling: [IntegrityReport.Dangling] = []
        var missing: [IntegrityReport.Missing] = []
        for record in listed {
            guard let collection = schema.collection(record.ref.collection) else { continue }
            for field in collection.fields {
                let targets: [String]
                if field.type == .ref {
                    targets = record.values[field.name].flatMap { if case .text(let text) = $0 { [text] } else { nil } } ?? []
                } else if field.isSet, field.of == .ref {
                    targets = record.members[field.name] ?? []
                } else {
                    targets = []
                }
                for target in targets where RecordRef(parsing: target).map({ !existing.contains($0) }) ?? true {
                    dangling.append(.init(record: record.ref, field: field.name, target: target))
                }
                if field.isRequired, !field.isSet, record.values[field.name] == nil {
                    missing.append(.init(record: record.ref, field: field.name))
                }
            }
        }
        let limit = options.wallClock() + options.maxClockDriftMillis
        let schema = self.schema
        // Every slot is checked against the schema, not only those a merge
        // listed: a value stored before a rule existed here (an enum value
        // an earlier version kept in another spelling) was never listed.
        let (future, walked) = try pool.read { db -> ([IntegrityReport.Future], [(SlotKey, String)]) in
            var found: [IntegrityReport.Future] = []
            var problems: [(SlotKey, String)] = []
            try db.forEachStoredRecord { ref, slots in
                for (name, slot) in slots {
                    let key = SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element)
                    for version in slot.state.versions where version.hlc.millis > limit {
                        found.append(.init(key: key, version: version, aheadMillis: version.hlc.millis - (limit - options.maxClockDriftMillis)))
                    }
                    if let problem = schema.problem(for: key, state: slot.state) { problems.append((key, problem)) }
                }
            }
            return (found, problems)
        }
        // The peer that sent it, where a merge listed it (the table's own column: no record is decoded again).
        let senders = try pool.read { db in
            var senders: [SlotKey: ReplicaID] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT \(SchemaProblemRows.columns) FROM sync_schema_problems")
            while let row = try rows.next() {
                if let key = SchemaProblemRows.key(row), let peer = SchemaProblemRows.peer(row) { senders[key] = peer }
            }
            return senders
        }
        // In key byte order (`SlotKey.<`).
        let problems = walked.sorted { $0.0 < $1.0 }.map { SchemaProblem(key: $0.0, problem: $0.1, peer: senders[$0.0]) }
        return IntegrityReport(schemaProblems: problems, danglingReferences: dangling, missingRequired: missing,
                               futureVersions: future, clockReports: try clockReports(), dotCollisions: try dotCollisions(),
                               replicaLog: try replicaLog())
    }
}
