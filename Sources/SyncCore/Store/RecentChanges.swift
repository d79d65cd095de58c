import Foundation
import GRDB

/// One version this replica applied, with where it landed: the unit of the
/// "recent changes" list and of the web app's live events.
public struct AppliedChange: Sendable {
    public let ref: RecordRef
    public let field: String
    /// The set member, for set fields (empty for scalars).
    public let element: String
    /// The local seq at which it was applied.
    public let seq: UInt64
    public let version: Version
}

/// Which applied changes to list.
public struct ChangeFilter: Sendable {
    /// Only changes applied after this local seq.
    public var sinceSeq: UInt64?
    /// Only versions stamped at or after this time.
    public var since: Date?
    public var author: String?
    /// Only versions written by this replica.
    public var replica: ReplicaID?
    public var collection: String?
    public var limit: Int

    public static let maxLimit = 1_000
    /// History rows read at most per request, so a filter that matches
    /// nothing costs a bounded scan, not the whole history.
    public static let maxScannedRows = 50_000

    public init(sinceSeq: UInt64? = nil, since: Date? = nil, author: String? = nil, replica: ReplicaID? = nil,
                collection: String? = nil, limit: Int = 100) {
        self.sinceSeq = sinceSeq
        self.since = since
        self.author = author
        self.replica = replica
        self.collection = collection
        self.limit = limit
    }

    func matches(_ change: AppliedChange) -> Bool {
        if let sinceSeq, change.seq <= sinceSeq { return false }
        if let since, change.version.hlc.date < since { return false }
        if let author, Array(change.version.author.utf8) != Array(author.utf8) { return false }
        if let replica, change.version.dot.replica != replica { return false }
        if let collection, change.ref.collection != collection { return false }
        return true
    }
}

extension Store {
    /// Applied changes, newest first (by local seq), filtered; reads history
    /// backwards and stops at `sinceSeq`, at `limit` or after `maxScannedRows`.
    public func recentChanges(_ filter: ChangeFilter) throws -> [AppliedChange] {
        let limit = max(1, min(filter.limit, ChangeFilter.maxLimit))
        return try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT collection, record, seq, entries FROM sync_history ORDER BY rowid DESC")
            var found: [AppliedChange] = []
            var scanned = 0
            while let row = try rows.next(), scanned < ChangeFilter.maxScannedRows {
                scanned += 1
                let ref = RecordRef(collection: row[0], id: row[1])
                let firstSeq = UInt64(row[2] as Int64)
                let blob: Data = row[3]
                guard let entries = try? HistoryEntries.decode([UInt8](blob)) else { continue }
                let changes = entries.reversed().map { AppliedChange(ref: ref, field: $0.field, element: $0.element, seq: $0.seq, version: $0.version) }
                found += changes.filter(filter.matches)
                if found.count >= limit { break }
                // Rows are appended in seq order: nothing older can match.
                if let sinceSeq = filter.sinceSeq, firstSeq <= sinceSeq { break }
            }
            return Array(found.prefix(limit))
        }
    }
}
