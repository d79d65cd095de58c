import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// Writes to the collection tables from the `sqlite3` shell and Python's
    /// `sqlite3` module, with real daemons: replicated edits (docs/sql.md).
    @Suite struct SQLWrites {
        let root = TemporaryDirectory("syncd-sql-writes")
        /// The default local poll (200 ms), so the timings are what an analyst gets.
        static let settings = DaemonProcess.fastSettings.replacingOccurrences(of: "local_poll_ms: 50", with: "local_poll_ms: 200")

        func database(_ daemon: DaemonProcess) -> String { daemon.directory.appendingPathComponent("data.db").path }

        func sqlite(_ daemon: DaemonProcess, _ sql: String) throws {
            let result = try SQLiteShell.run(database(daemon), sql)
            #expect(result.status == 0, "sqlite3 \(sql): \(result)")
        }

        func python(_ daemon: DaemonProcess, _ script: String) throws -> SQLiteShell.Result {
            try SQLiteShell.command(["python3", "-c", script, database(daemon)])
        }

        func value(_ store: Store, _ record: String, _ field: String) throws -> Value? {
            guard let view = try store.record(RecordRef(parsing: record)!), view.exists else { return nil }
            return view.value(field)
        }

        func pair() async throws -> (DaemonProcess, DaemonProcess) {
            let a = try DaemonProcess("a", in: root, settings: Self.settings), b = try DaemonProcess("b", in: root, settings: Self.settings)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            try await a.waitUntilInSync()
            return (a, b)
        }

        @Test func sqlEditsReachAPeerWithinASecondAndShowInHistory() async throws {
            let (a, b) = try await pair()
            let peer = try b.store()
            var seconds: [Double] = []
            for round in 0..<7 {
                let started = ContinuousClock.now
                try sqlite(a, "update agreements set summary = 'from sqlite3, round \(round)' where id = 'green-minerals-initiative'")
                let arrived = try await eventually(timeout: .seconds(10), every: .milliseconds(5)) {
                    try value(peer, "agreements/green-minerals-initiative", "summary") == .text("from sqlite3, round \(round)")
                }
                #expect(arrived, "round \(round): \(a.log(last: 20))")
                let elapsed = ContinuousClock.now - started
                seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            }
            let median = seconds.sorted()[seconds.count / 2]
            print("SQL UPDATE on a → visible on b: median \(String(format: "%.0f", median * 1_000)) ms, all \(seconds.map { String(format: "%.0f", $0 * 1_000) }) ms")
            #expect(median < 1.0)
            let history = try Syncctl(existing: b.directory).run(["history", "agreements/green-minerals-initiative", "--json"])
            #expect(history.stdout.contains("from sqlite3, round 6") && history.stdout.contains("\"author\" : \"a\""), "\(history)")

            // An INSERT and a DELETE likewise.
            try sqlite(a, "insert into countries(id, name, region) values ('xk', 'Kosovo', 'europe'); delete from countries where id = 'zw';")
            #expect(try await eventually(timeout: .seconds(5)) {
                try value(peer, "countries/xk", "name") == .text("Kosovo") && peer.record(RecordRef(parsing: "countries/zw")!)?.exists == false
            })
            #expect(try SQLiteShell.run(database(b), "select name from countries where id = 'xk'").stdout == "Kosovo")
            #expect(try a.digest() == b.digest())
        }

        @Test func pythonTransactionsAndRollbacks() async throws {
            let (a, b) = try await pair()
            let peer = try b.store()
            // One transaction, many rows; then one rolled back.
            let result = try python(a, """
                import sqlite3, sys
                db = sqlite3.connect(sys.argv[1])
                with db:
                    db.execute("update countries set notes = 'reviewed ' || id where region = 'africa'")
                try:
                    with db:
                        db.execute("update countries set notes = 'never' ")
                        db.execute("delete from agreements")
                        raise RuntimeError("changed my mind")
                except RuntimeError:
                    pass
                print(db.execute("select count(*) from countries where region = 'africa'").fetchone()[0])
                """)
            #expect(result.status == 0, "\(result)")
            let african = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(african > 1)
            #expect(try await eventually(timeout: .seconds(5)) {
                try peer.list("countries").filter { try value(peer, $0.ref.description, "notes") == .text("reviewed \($0.ref.id)") }.count == african
            })
            try await Task.sleep(for: .milliseconds(500))
            #expect(try peer.list("agreements").count > 0)
            #expect(try peer.list("countries").allSatisfy { try value(peer, $0.ref.description, "notes") != .text("never") })
            #expect(try a.store().sqlEditCounts() == SQLEditCounts())
            #expect(try a.digest() == b.digest())
        }

        @Test func editsWhileTheDaemonIsStoppedShipOnItsNextStart() async throws {
            let (a, b) = try await pair()
            try await a.stop()
            try sqlite(a, "update minerals set notes = 'edited offline' where id = 'cobalt'")
            try await a.start()
            let peer = try b.store()
            #expect(try await eventually(timeout: .seconds(10)) { try value(peer, "minerals/cobalt", "notes") == .text("edited offline") })
            #expect(a.log().contains("took up SQL edits"))
        }

        @Test func anInvalidValueIsRefusedKeptAndReportedAndALaterEditGoesThrough() async throws {
            let (a, b) = try await pair()
            try sqlite(a, "update agreements set status = 'bogus' where id = 'green-minerals-initiative'")
            #expect(try await eventually(timeout: .seconds(5)) { try a.status().sqlEdits?.refused == 1 })
            // The refusal is counted in the store before the daemon's log line is written.
            #expect(try await eventually(timeout: .seconds(5)) { a.log().contains("refused a SQL edit") && a.log().contains("bogus") })
            let cli = Syncctl(existing: a.directory)
            let status = try cli.run(["status"])
            #expect(status.stdout.contains("SQL edits of the tables refused"), "\(status)")
            let check = try cli.run(["check"])
            #expect(check.status == 1 && check.stdout.contains("not an allowed value"), "\(check)")
            let list = try cli.run(["sql", "list", "--json"])
            #expect(list.status == 1 && list.stdout.contains("\"reason\"") && list.stdout.contains("bogus"), "\(list)")
            // The table shows the replicated value again; the peer never saw 'bogus'.
            #expect(try SQLiteShell.run(database(a), "select status from agreements where id = 'green-minerals-initiative'").stdout == "proposed")
            try sqlite(a, "update agreements set status = 'active' where id = 'green-minerals-initiative'")
            let peer = try b.store()
            #expect(try await eventually(timeout: .seconds(5)) { try value(peer, "agreements/green-minerals-initiative", "status") == .text("active") })
            let discard = try cli.run(["sql", "discard", "--all"])
            #expect(discard.status == 0 && discard.stdout.contains("discarded 1"), "\(discard)")
            #expect(try cli.run(["check"]).status == 0)
        }

        @Test func concurrentSQLEditsOnDisconnectedReplicasAreTheSameConflictOnBoth() async throws {
            let a = try DaemonProcess("a", in: root, settings: Self.settings), b = try DaemonProcess("b", in: root, settings: Self.settings)
            for daemon in [a, b] { try await daemon.start() }
            try sqlite(a, "update countries set notes = 'seen from a' where id = 'cn'")
            try sqlite(b, "update countries set notes = 'seen from b' where id = 'cn'")
            for daemon in [a, b] {
                #expect(try await eventually(timeout: .seconds(5)) { try value(daemon.store(), "countries/cn", "notes") != .text("China's …") && daemon.store().sqlEditCounts() == SQLEditCounts() })
            }
            try a.setPeers([b.asPeer()])
            try await b.setPeersAndWaitForReload([a.asPeer()])
            try await a.waitUntilInSync()
            #expect(try await eventually(timeout: .seconds(10)) { try a.digest() == b.digest() })
            var shown: [String] = []
            for daemon in [a, b] {
                let conflicts = try Syncctl(existing: daemon.directory).run(["conflicts", "--json"])
                #expect(conflicts.stdout.contains("countries/cn") && conflicts.stdout.contains("seen from a") && conflicts.stdout.contains("seen from b"), "\(conflicts)")
                shown.append(try String(decoding: JSONSerialization.data(withJSONObject: conflicts.json(), options: [.sortedKeys]), as: UTF8.self))
            }
            #expect(shown[0] == shown[1])
            #expect(try SQLiteShell.run(database(a), "select conflicted from countries where id = 'cn'").stdout == "1")
        }
    }
}
