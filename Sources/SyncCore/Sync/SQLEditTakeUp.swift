import Foundation
import Logging

/// Counts runs across copies of a `SQLEditTakeUp`.
final class RunCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func next() -> Int { lock.withLock { count += 1; return count } }
}

/// The daemon's side of SQL writes (docs/sql.md): when the collection tables
/// hold queued edits, takes them up as local writes by the configured author
/// and logs what it did, refusals with their reason and the command that
/// settles them.
public struct SQLEditTakeUp: Sendable {
    let store: Store
    let author: @Sendable () -> String
    let logger: Logger

    public init(store: Store, author: @escaping @Sendable () -> String, logger: Logger) {
        self.store = store
        self.author = author
        self.logger = logger
    }

    /// Refusals logged one by one per take-up; the rest are counted.
    static let refusalsLogged = 20

    /// How often (in runs) the triggers are checked to be in place.
    static let captureCheckEvery = 25
    private let runs = RunCounter()

    /// Takes up what waits; nil when nothing did (one indexed probe per collection).
    @discardableResult
    public func run() throws -> SQLEditReport? {
        // A schema change committed by `syncctl schema` (another process):
        // the tables, forms and checks of this daemon follow it.
        if try store.refreshSchemaIfChanged() {
            for problem in store.schemaDefinitionProblems {
                logger.warning("a schema definition is withheld", metadata: ["problem": "\(problem)"])
            }
        }
        if runs.next() % Self.captureCheckEvery == 0, try store.restoreSQLCapture() {
            logger.warning("the triggers that turn SQL writes to the collection tables into replicated edits were missing (dropped, or a table replaced by a client) and are back; writes made meanwhile were not replicated: `syncctl check` names the rows, `syncctl check --repair` rewrites them")
            // A table a client replaced may be declared otherwise too (no key: pandas' `to_sql`).
            if let layout = try? store.layoutProblems(), !layout.collectionTables.isEmpty {
                logger.warning("a collection table is not declared as syncd makes it; `syncctl check --repair` makes it again from the replicated state", metadata: [
                    "tables": "\(layout.collectionTables.joined(separator: ", "))", "first": "\(layout.collectionTableProblems.first ?? "")"])
            }
        }
        guard try store.hasPendingSQLEdits() else { return nil }
        let report = try store.takeUpSQLEdits(author: author())
        if report.applied > 0 || report.unchanged > 0 {
            logger.info("took up SQL edits of the collection tables as local writes", metadata: [
                "applied": "\(report.applied)", "unchanged": "\(report.unchanged)", "refused": "\(report.refusedCount)",
                "dots": "\(report.dots.map(\.description).joined(separator: " "))"])
        }
        for edit in report.refused.prefix(Self.refusalsLogged) {
            logger.warning("refused a SQL edit; it is kept: `syncctl sql list` shows it, `syncctl sql retry \(edit.edit)` or `syncctl sql discard \(edit.edit)` settles it", metadata: [
                "edit": "\(edit.edit)", "collection": "\(edit.collection)", "id": "\(edit.idCell.display)",
                "operation": "\(edit.operation.rawValue)", "reason": "\(edit.reason ?? "")"])
        }
        if let stopped = report.stoppedBy {
            logger.warning("taking up SQL edits stopped part way (the edits above are written; the rest stay queued and are taken up at the next poll); free disk space or end what holds the database if this repeats", metadata: [
                "error": "\(stopped)"])
        }
        if report.refusedCount > Self.refusalsLogged {
            logger.warning("refused more SQL edits than are logged one by one", metadata: ["not_logged": "\(report.refusedCount - Self.refusalsLogged)"])
        }
        return report
    }
}
