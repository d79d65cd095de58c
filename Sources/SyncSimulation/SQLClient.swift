import GRDB

/// Another SQLite client on a replica's database — the `sqlite3` shell,
/// Python — with triggers on, as any client has them (docs/sql.md).
struct SQLClient {
    let queue: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        queue = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Runs `statement` in a transaction, committed or rolled back; false
    /// when SQLite (a trigger, a constraint) refused it.
    func run(_ statement: String, rollBack: Bool) throws -> Bool {
        defer { try? queue.close() }
        do {
            try queue.inDatabase { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                do { try db.execute(sql: statement) } catch {
                    try db.execute(sql: "ROLLBACK")
                    throw error
                }
                try db.execute(sql: rollBack ? "ROLLBACK" : "COMMIT")
            }
            return true
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            return false
        }
    }
}
