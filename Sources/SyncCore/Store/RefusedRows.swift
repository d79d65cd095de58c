import Foundation
import GRDB

/// Collection-table rows that a constraint of the analyst's own (or an
/// expression of theirs that raises an error) refused while a received
/// batch was stored (replication-model §8, "Rows a table refuses").
///
/// A peer's slots are stored whatever the table holds: they are the
/// replicated state, already on other replicas. When writing a record's row
/// fails on a constraint syncd does not make (a UNIQUE index, a CHECK,
/// NOT NULL, UNIQUE or STRICT type of a table made again; the store's
/// connections run with triggers off), only that statement
/// is undone; the row stays as it was (missing, or the older reading),
/// `viewDrift` lists it, and `syncctl check` names what refuses it.
public struct RefusedRows: Hashable, Sendable {
    /// At most this many rows are listed with their reason (the count goes on).
    public static let listLimit = 20

    public struct Row: Hashable, Sendable {
        public let ref: RecordRef
        /// SQLite's message (it names the index or constraint).
        public let reason: String
    }

    public private(set) var count = 0
    public private(set) var listed: [Row] = []

    public var isEmpty: Bool { count == 0 }

    mutating func append(_ ref: RecordRef, reason: String) {
        count += 1
        if listed.count < Self.listLimit { listed.append(Row(ref: ref, reason: reason)) }
    }

    /// Whether `error`, thrown by writing one row, is a refusal the batch
    /// goes on after: a constraint failure, or SQLite's plain error (an
    /// index, CHECK or generated column expression of the analyst's that
    /// raises one: `json_extract` of text that is not JSON), that undid only
    /// its statement (the transaction is still open; a conflict clause of
    /// ROLLBACK in a table made again ends it, and then nothing may go on —
    /// GRDB refuses any later statement of it as well). Errors of the disk,
    /// memory, locks or an interrupt are never refusals.
    static func isRefusal(_ error: Error, stillInTransaction: Bool) -> Bool {
        guard stillInTransaction, let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_CONSTRAINT || error.resultCode == .SQLITE_ERROR
    }
}
