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

        /// The same index on a joiner's own table: j joins a by snapshot all
        /// the same (it used to roll the adoption back and pull every
        /// change), holds back the one row, says so in its log, and ends
        /// with a's digest; dropped and repaired, the row is there.
        @Test func aJoinerWhoseIndexRefusesARowStillJoinsBySnapshot() async throws {
            let a = try DaemonProcess("ja", in: root)
            try await a.start()
            try await a.stop()
            let store = try a.store()
            for index in 0..<600 {
                try store.create(RecordRef(collection: "agreements", id: "ja-\(index)"), [.set("title", .text("Agreement \(index)"))], author: "a")
            }
            try store.create(RecordRef(collection: "agreements", id: "same-title"), [.set("title", .text("Agreement 7"))], author: "a")
            let j = try DaemonProcess("jj", in: root, extraConfig: Integration.JoinBySnapshot.joinSettings)
            try await j.start()
            try await j.stop()
            let database = j.directory.appendingPathComponent("data.db").path
            #expect(try SQLiteShell.run(database, "create unique index own_titles on agreements(title)").status == 0)
            try connect([(j, a)])
            for daemon in [a, j] { try await daemon.start() }
            #expect(try await eventually(timeout: .seconds(60)) { j.log().contains("joined by snapshot") }, "\(j.log(last: 30))")
            #expect(j.log().contains("rows_held_back=1"), "\(j.log(last: 30))")
            #expect(j.log().contains("refused rows of the join snapshot"), "\(j.log(last: 30))")
            #expect(try await eventually(timeout: .seconds(15)) { try a.digest() == j.digest() }, "\(j.log(last: 20))")
            #expect(try SQLiteShell.run(database, "select count(*) from agreements where id = 'same-title'").stdout == "0")
            let cli = Syncctl(existing: j.directory)
            let check = try cli.run(["check", "--json"])
            let output = try #require(try check.json() as? [String: Any])
            #expect(((output["tableRows"] as? [[String: String]]) ?? []).map { $0["slot"] ?? "" } == ["agreements/same-title"], "\(output)")
            #expect(try SQLiteShell.run(database, "drop index own_titles").status == 0)
            #expect(try cli.run(["check", "--repair"]).status == 0)
            #expect(try SQLiteShell.run(database, "select title from agreements where id = 'same-title'").stdout == "Agreement 7")
            for daemon in [a, j] { try await daemon.stop() }
        }
    }
}
