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
    /// History rows, and change-feed rows (for slots whose history is
    /// deferred, format 5), read at most per request, each: a filter that
    /// matches nothing costs a bounded scan, not the whole history.
    public static let maxScannedRows = 50_000
    /// Rows read on past the point where the page looks complete: builds
    /// before format 5 gave a record that took more than 1,000 slots in one
    /// transaction a history row holding a later seq than rows written after
    /// it (one seq per 1,000 slots); those stragglers are within one
    /// transaction's rows. (Format 5 writes a transaction's rows in seq order.)
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
    /// Applied changes, newest first (by local seq), filtered. Two sources:
    /// history rows, read backwards until `sinceSeq`, past `limit` or after
    /// `maxScannedRows`; and the versions of slots whose first state is not
    /// in history yet (format 5), read through the change feed backwards
    /// with the same bounds, down to the seq at which the file became
    /// format 5 (no slot below it can hold one).
    public func recentChanges(_ filter: ChangeFilter) throws -> RecentChanges {
        try recentChanges(filter, scanLimit: ChangeFilter.maxScannedRows)
    }

    /// The same with another bound on rows read per source (tests).
    func recentChanges(_ filter: ChangeFilter, scanLimit: Int) throws -> RecentChanges {
        let limit = max(1, min(filter.limit, ChangeFilter.maxLimit))
        return try pool.read { db in
            let history = try Self.recentFromHistory(db, filter, limit: limit, scanLimit: scanLimit)
            // A full page of history matches, complete: feed matches below
            // its limit-th seq cannot enter the page, so the feed walk stops
            // there (once one match below it is known, so `more` is right).
            var floor: UInt64?
            if history.completeFrom == nil, history.found.count > limit {
                floor = history.found.map(\.seq).sorted(by: >)[limit - 1]
            }
            let first = try Self.recentFromFirstStates(db, filter, limit: limit, scanLimit: scanLimit, floor: floor,
                                                       moreKnown: floor.map { floor in history.found.contains { $0.seq < floor } } ?? false)
            // Each source holds every one of its matches at or above its own
            // limit-th seq, so the union holds every match of the page; a
            // source that stopped at `maxScannedRows` holds its matches only
            // down to where it stopped, and nothing below the higher of those
            // points is shown. The page says it is truncated only when that
            // cut it short (a full page above the cut is whole).
            var found = history.found + first.found
            let truncatedAt = [history.completeFrom, first.completeFrom].compactMap { $0 }.max()
            if let truncatedAt { found.removeAll { $0.seq < truncatedAt } }
            found.sort(by: AppliedChange.newestFirst)
            guard found.count > limit else {
                return RecentChanges(changes: found, more: truncatedAt != nil && !found.isEmpty, truncated: truncatedAt != nil)
            }
            let truncated = false
            // A page never splits the changes of one seq, so `before_seq` =
            // the smallest seq shown skips nothing.
            let boundary = found[limit - 1].seq
            let page = found.filter { $0.seq >= boundary }
            return RecentChanges(changes: page, more: page.count < found.count, truncated: truncated)
        }
    }

    /// Matches in history rows. `completeFrom`: nil when the walk was not cut
    /// by `maxScannedRows`; else the lowest seq from which every match is
    /// held (a row's entries were applied at or below its own seq).
    private static func recentFromHistory(_ db: Database, _ filter: ChangeFilter, limit: Int, scanLimit: Int) throws -> (found: [AppliedChange], completeFrom: UInt64?) {
        let rows = try Row.fetchCursor(db, sql: "SELECT collection, record, seq, entries FROM sync_history ORDER BY rowid DESC")
        var found: [AppliedChange] = []
        var scanned = 0
        var stopAfter: Int?
        var lowestRowSeq = UInt64.max
        while let row = try rows.next() {
            if let stopAfter, scanned >= stopAfter { break }
            guard scanned < scanLimit else { return (found, lowestRowSeq == .max ? .max : lowestRowSeq + 1) }
            scanned += 1
            // A row that is not names, a seq and a blob (a damaged file) fails the read, as one that does not decode.
            // (Converted from the raw cell: GRDB's typed subscript traps on a cell of another type.)
            guard let collection = String.fromDatabaseValue(row[0]), let id = String.fromDatabaseValue(row[1]),
                  let seqValue = Int64.fromDatabaseValue(row[2]), seqValue >= 0, let blob = Data.fromDatabaseValue(row[3]) else {
                throw StoreError.corruptSlot(SlotKey(collection: "(history)", record: "?", field: "(history)"), reason: "a history row whose cells are not names, a seq and entries")
            }
            let ref = RecordRef(collection: collection, id: id)
            // The seq of the transaction that wrote the row: no entry of it
            // was applied later (HistoryEntries), stragglers aside.
            let rowSeq = UInt64(seqValue)
            lowestRowSeq = min(lowestRowSeq, rowSeq)
            // A blob that does not decode fails the read, as in `history(ref)`:
            // a page that left it out would hide changes without saying so.
            let entries: [HistoryEntries.Entry]
            do throws(BinaryDecodingError) { entries = try HistoryEntries.decode([UInt8](blob)) } catch {
                throw StoreError.corruptSlot(SlotKey(collection: collection, record: id, field: "(history)"), reason: error.description)
            }
            let changes = entries.reversed().map { AppliedChange(ref: ref, field: $0.field, element: $0.element, seq: $0.seq, version: $0.version) }
            found += changes.filter(filter.matches)
            guard stopAfter == nil else { continue }
            // Rows are (almost) in seq order: once a row starts at or
            // below the boundary, only stragglers can still match.
            if let sinceSeq = filter.sinceSeq, rowSeq <= sinceSeq { stopAfter = scanned + ChangeFilter.stragglerRows }
            if found.count > limit {
                let boundary = found.map(\.seq).sorted(by: >)[limit - 1]
                if rowSeq < boundary { stopAfter = scanned + ChangeFilter.stragglerRows }
            }
        }
        return (found, nil)
    }

    /// The live versions of slots whose history is deferred, each at the seq
    /// its slot carries (the seq it was applied at: any later change would
    /// have written it to history). The feed is in exact seq order, so the
    /// walk stops at `sinceSeq`, at the seq the file became format 5, or
    /// once the page is full and one match below it shows there are more.
    /// `completeFrom` as for history: the last seq read, when cut.
    private static func recentFromFirstStates(_ db: Database, _ filter: ChangeFilter, limit: Int, scanLimit: Int,
                                              floor: UInt64?, moreKnown: Bool) throws -> (found: [AppliedChange], completeFrom: UInt64?) {
        var clauses = ["f.seq > ?"]
        var arguments: StatementArguments = [max(Int64(clamping: filter.sinceSeq ?? 0), try db.deferredHistorySince())]
        if let beforeSeq = filter.beforeSeq {
            clauses.append("f.seq < ?")
            arguments += [Int64(clamping: beforeSeq)]
        }
        if let collection = filter.collection {
            clauses.append("r.collection = ?")
            arguments += [collection]
        }
        let rows = try Row.fetchCursor(db, sql: """
            SELECT f.seq, r.collection, r.record, r.slots FROM sync_feed f JOIN sync_records r ON r.id = f.record_id
            WHERE \(clauses.joined(separator: " AND ")) ORDER BY f.seq DESC
            """, arguments: arguments)
        var found: [AppliedChange] = []
        var scanned = 0
        var lastSeq: UInt64?
        while let row = try rows.next() {
            // Done once the page is full and one match below it is known (so
            // the caller can tell there are more).
            if found.count > limit, found[found.count - 1].seq < found[limit - 1].seq { break }
            guard scanned < scanLimit else { return (found, lastSeq ?? .max) }
            scanned += 1
            guard let seqValue = Int64.fromDatabaseValue(row[0]), seqValue >= 0, let collection = String.fromDatabaseValue(row[1]),
                  let id = String.fromDatabaseValue(row[2]), let blob = Data.fromDatabaseValue(row[3]) else {
                throw StoreError.corruptSlot(SlotKey(collection: "(feed)", record: "?", field: "(record)"), reason: "a change-feed entry or record row whose cells are not a seq, names and slots")
            }
            let seq = UInt64(seqValue)
            if let floor, seq < floor, moreKnown || (found.last.map { $0.seq < floor } ?? false) { break }
            lastSeq = seq
            let ref = RecordRef(collection: collection, id: id)
            var changes: [AppliedChange] = []
            // A record row that does not decode fails the read (corruptSlot), as in `history(ref)`.
            try StoredRecord.forEach([UInt8](blob), ref: ref, where: { slotSeq, _, _ in slotSeq == seqValue }) { name, slot in
                guard slot.historyPending else { return }
                for version in slot.state.versions {
                    changes.append(AppliedChange(ref: ref, field: name.field, element: name.element, seq: seq, version: version))
                }
            }
            found += changes.filter(filter.matches)
        }
        return (found, nil)
    }
}

extension AppliedChange {
    /// Newest seq first; within one seq by slot and dot, so a page reads the
    /// same whichever source a change came from.
    static func newestFirst(_ a: AppliedChange, _ b: AppliedChange) -> Bool {
        if a.seq != b.seq { return a.seq > b.seq }
        // By slot bytes (`SlotKey.<`), then dot.
        let left = SlotKey(collection: a.ref.collection, record: a.ref.id, field: a.field, element: a.element)
        let right = SlotKey(collection: b.ref.collection, record: b.ref.id, field: b.field, element: b.element)
        if left != right { return left < right }
        return a.version.dot < b.version.dot
    }
}
