import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// Real daemons: an analyst's UNIQUE index on b's `countries(name)`
    /// refuses the row of a record a's analyst creates under a name b's
    /// table holds already. b stores the record anyway, the two converge,
    /// b's log and `syncctl check` say which row and which index, and once
    /// the index is dropped `check --repair` writes the row
    /// (replication-model §8, "Rows a table refuses").
    @Suite struct RefusedRow {
        let root = TemporaryDirectory("syncd-refused-row")

        @Test func aRowTheAnalystsIndexRefusesIsHeldBackNotTheBatch() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            try await a.waitUntilInSync()
            let database = b.directory.appendingPathComponent("data.db").path
            let index = try SQLiteShell.run(database, "create unique index own_names on countries(name)")
            #expect(index.status == 0, "\(index)")
            let cliA = Syncctl(existing: a.directory), cliB = Syncctl(existing: b.directory)
            #expect(try cliA.run(["create", "countries/zz", "name=China"]).status == 0)
            #expect(try cliA.run(["create", "countries/yy", "name=Elsewhere"]).status == 0)
            #expect(try await eventually(timeout: .seconds(15)) { try a.digest() == b.digest() }, "\(b.log(last: 20))")
            #expect(try SQLiteShell.run(database, "select name from countries where id = 'yy'").stdout == "Elsewhere")
            #expect(try SQLiteShell.run(database, "select count(*) from countries where id = 'zz'").stdout == "0")
            #expect(b.log().contains("refused rows of received records"), "\(b.log(last: 20))")
            let check = try cliB.run(["check", "--json"])
            #expect(check.status == 1, "\(check)")
            let output = try #require(try check.json() as? [String: Any])
            let rows = (output["tableRows"] as? [[String: String]]) ?? []
            #expect(rows.map { $0["slot"] ?? "" } == ["countries/zz"], "\(rows)")
            #expect(((output["storeLayout"] as? [String]) ?? []).contains { $0.contains("own_names") }, "\(output)")
            #expect(try SQLiteShell.run(database, "drop index own_names").status == 0)
            let repair = try cliB.run(["check", "--repair"])
            #expect(repair.status == 0, "\(repair)")
            #expect(try SQLiteShell.run(database, "select name from countries where id = 'zz'").stdout == "China")
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}
