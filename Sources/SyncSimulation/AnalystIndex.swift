import Foundation
import GRDB
import SyncCore

/// An analyst's UNIQUE index on `countries(name)`, made with SQL on one
/// replica's file (`syncctl check` names it; replication-model §8, "Rows a
/// table refuses"). Names repeat across records, so it refuses rows: a
/// peer's batch must still be stored whole (the replicas converge, which
/// the run's end checks), a local write it refuses writes nothing, and the
/// only rows that differ from the replicated state are `countries` rows.
/// At the end the index is dropped and the rows repaired: then the tables
/// must agree with the state exactly, so nothing the index held back was lost.
extension World {
    static let analystIndex = "analyst_unique_names"

    /// An analyst makes the index (refused, and nothing made, while names
    /// already repeat in the table).
    func analystUniqueIndex(_ replica: SimReplica) {
        do {
            let client = try SQLClient(path: replica.path)
            let made = try client.run("CREATE UNIQUE INDEX IF NOT EXISTS \(Self.analystIndex) ON countries(name)", rollBack: false)
            count(made ? "sql: analyst's unique index" : "sql: analyst's unique index refused")
            note("\(replica.name) analyst: CREATE UNIQUE INDEX \(Self.analystIndex) ON countries(name)\(made ? "" : " — refused, names repeat")")
        } catch {
            violation("\(replica.name): an analyst could not try their unique index: \(error)")
        }
    }

    /// Whether the replica's database holds the analyst's index now.
    func hasAnalystIndex(_ replica: SimReplica) -> Bool {
        guard let store = replica.store else { return false }
        return (try? store.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?)", arguments: [Self.analystIndex])
        }) == true
    }

    /// Whether `error` is the analyst's index refusing a write on a replica
    /// that holds it (SQLite names the indexed column; any other constraint
    /// error stays a violation).
    func refusedByAnalystIndex(_ error: Error, _ replica: SimReplica) -> Bool {
        guard let error = error as? DatabaseError, error.resultCode == .SQLITE_CONSTRAINT,
              (error.message ?? "").contains("UNIQUE constraint failed: countries.name") else { return false }
        return hasAnalystIndex(replica)
    }

    /// At the end, on a replica that holds the index: only `countries` rows
    /// differ from the state; dropped and repaired, none may.
    func dropAnalystIndex(_ replica: SimReplica) {
        guard hasAnalystIndex(replica), let store = replica.store else { return }
        do {
            let drift = try store.viewDrift()
            let others = drift.drift.filter { $0.ref.collection != "countries" }
            if !others.isEmpty { violation("\(replica.name): with the analyst's index on countries, rows of other tables differ from the state: \(others.prefix(3))") }
            try store.withWriteTransaction { db in try db.execute(sql: "DROP INDEX \(Self.analystIndex)") }
            let repaired = try store.repairViews().rows
            if repaired > 0 { count("sql: rows the analyst's index refused, written at the end") }
            note("\(replica.name): dropped the analyst's index; \(repaired) row(s) written")
        } catch {
            violation("\(replica.name): cannot drop the analyst's index and repair: \(error)")
        }
    }
}
