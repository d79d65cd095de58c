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
    /// Only changes applied before this local seq (the next page back).
    public var beforeSeq: UInt64?
    /// Only versions written by one of these replicas (a device's replicas).
    public var replicas: [ReplicaID]?
    public var collection: String?
    public var limit: Int

    public static let maxLimit = 1_000
    /// History rows read at most per request, so a filter that matches
    /// nothing costs a bounded scan, not the whole history.
    public static let maxScannedRows = 50_000
    /// Rows read on past the point where the page looks complete: a record
    /// given more than 1,000 slots in one transaction has its history row
    /// hold a later seq than rows written after it (one seq per 1,000 slots),
    /// and those stragglers are within one transaction's rows.
    public static let stragglerRows = 2_000

    public init(sinceSeq: UInt64? = nil, beforeSeq: UInt64? = nil, since: Date? = nil, author: String? = nil, replicas: [ReplicaID]? = nil,
                collection: String? = nil, limit: Int = 100) {
        self.sinceSeq = sinceSeq
        self.beforeSeq = beforeSeq
        self.since = since
        self.author = author
        self.replicas = replicas
        self.collection = collection
        self.limit = limit
    }

    func matches(_ change: AppliedChange) -> Bool {
        if let sinceSeq, change.seq <= sinceSeq { return false }
        if let since, change.version.hlc.date < since { return false }
        if let author, Array(change.version.author.utf8) != Array(author.utf8) { return false }
        if let beforeSeq, change.seq >= beforeSeq { return false }
        if let replicas, !replicas.contains(change.version.dot.replica) { return false }
        if let collection, change.ref.collection != collection { return false }
        return true
    }
}

/// What `recentChanges` found.
public struct RecentChanges: Sendable {
    /// Newest first, at most the filter's limit.
    public let changes: [AppliedChange]
    /// More matching changes remain (older than the last one given).
    public let more: Bool
    /// The scan stopped at `ChangeFilter.maxScannedRows` before the end:
    /// older matches may exist that were not looked at.
    public let truncated: Bool
}

extension Store {
    /// Applied changes, newest first (by local seq), filtered; reads history
    /// backwards and stops at `sinceSeq`, past `limit` or after `maxScannedRows`.
    public func recentChanges(_ filter: ChangeFilter) throws -> RecentChanges {
        let limit = max(1, min(filter.limit, ChangeFilter.maxLimit))
        return try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT collection, record, seq, entries FROM sync_history ORDER BY rowid DESC")
            var found: [AppliedChange] = []
            var scanned = 0
            var truncated = false
            var stopAfter: Int?
            while let row = try rows.next() {
                if let stopAfter, scanned >= stopAfter { break }
                guard scanned < ChangeFilter.maxScannedRows else { truncated = true; break }
                scanned += 1
                // A row that is not names, a seq and a blob (a damaged file) is skipped, not a trap.
                guard let collection = row[0] as String?, let id = row[1] as String?, let seqValue = row[2] as Int64?, seqValue >= 0,
                      let blob = row[3] as Data? else { continue }
                let ref = RecordRef(collection: collection, id: id)
                let firstSeq = UInt64(seqValue)
                guard let entries = try? HistoryEntries.decode([UInt8](blob)) else { continue }
                let changes = entries.reversed().map { AppliedChange(ref: ref, field: $0.field, element: $0.element, seq: $0.seq, version: $0.version) }
                found += changes.filter(filter.matches)
                guard stopAfter == nil else { continue }
                // Rows are (almost) in seq order: once a row starts at or
                // below the boundary, only stragglers can still match.
                if let sinceSeq = filter.sinceSeq, firstSeq <= sinceSeq { stopAfter = scanned + ChangeFilter.stragglerRows }
                if found.count > limit {
                    let boundary = found.map(\.seq).sorted(by: >)[limit - 1]
                    if firstSeq < boundary { stopAfter = scanned + ChangeFilter.stragglerRows }
                }
            }
            found.sort { $0.seq > $1.seq }
            guard found.count > limit else { return RecentChanges(changes: found, more: false, truncated: truncated) }
            // A page never splits the changes of one seq, so `before_seq` =
            // the smallest seq shown skips nothing.
            let boundary = found[limit - 1].seq
            let page = found.filter { $0.seq >= boundary }
            return RecentChanges(changes: page, more: page.count < found.count, truncated: truncated)
        }
    }
}
