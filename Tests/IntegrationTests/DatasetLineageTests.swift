import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// Another team's dataset (docs/operations.md, "Another team's dataset"):
    /// `syncd --schema FILE --seed FILE` and `syncctl init --schema` start a
    /// data directory on another seed schema, and daemons of two datasets
    /// (lineages) refuse each other at hello and at an invitation claim.
    @Suite struct DatasetLineage {
        let root = TemporaryDirectory("syncd-lineage")

        static let schema = #"""
            {"name": "trade-desk", "version": 1, "collections": [
              {"name": "shipments", "description": "Cargo we track.", "fields": [
                {"name": "name", "type": "text", "required": true},
                {"name": "tonnes", "type": "integer"},
                {"name": "status", "type": "enum", "values": ["booked", "at-sea", "landed"]}]}]}
            """#
        static let seed = #"""
            {"records": [
              {"dot": 1, "ref": "shipments/first", "fields": {"name": "First cargo", "tonnes": 12, "status": "at-sea"}},
              {"dot": 2, "ref": "shipments/second", "fields": {"name": "Second cargo", "tonnes": 40}}]}
            """#

        func write(_ name: String, _ text: String) throws -> String {
            let url = root.url.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            return url.path
        }

        /// A daemon whose first start begins the trade-desk dataset.
        func tradeDesk(_ name: String) throws -> DaemonProcess {
            let daemon = try DaemonProcess(name, in: root)
            daemon.extraArguments = ["--schema", try write("team.json", Self.schema), "--seed", try write("seed.json", Self.seed)]
            return daemon
        }

        @Test func aDaemonStartedOnAnotherSchemaServesThatDataset() async throws {
            let t = try tradeDesk("t")
            try await t.start()
            #expect(t.printed.contains("dataset:        trade-desk (schema.json in the data directory)"), "\(t.printed)")
            #expect(t.printed.contains("records:        2 (seeded with the trade-desk dataset)"), "\(t.printed)")
            #expect(t.log().contains("started another team's dataset"))
            let cli = Syncctl(existing: t.directory)
            let list = try cli.run(["list", "shipments"])
            #expect(list.status == 0 && list.stdout.contains("First cargo") && list.stdout.contains("Second cargo"), "\(list)")
            // Its SQL table, one column per field.
            let database = t.directory.appendingPathComponent("data.db").path
            #expect(try SQLiteShell.run(database, "SELECT id, name, tonnes, status FROM shipments ORDER BY id").stdout
                        == "first|First cargo|12|at-sea\nsecond|Second cargo|40|")
            // Edits are checked against its schema; the shipped collections are not there.
            #expect(try cli.run(["set", "shipments/second", "status=landed"]).status == 0)
            let unknown = try cli.run(["list", "countries"])
            #expect(unknown.status == 1 && unknown.stderr.contains("unknown collection 'countries'"), "\(unknown)")
            #expect(try cli.run(["status"]).stdout.contains("dataset:    trade-desk"))

            // Later starts need no --schema; the same one again changes nothing.
            try await t.stop()
            t.extraArguments = []
            try await t.start()
            #expect(t.printed.contains("dataset:        trade-desk") && !t.printed.contains("seeded"), "\(t.printed)")
            #expect(try cli.run(["get", "shipments/second"]).stdout.contains("landed"))
            try await t.stop()

            // Another schema on this data directory: refused, with what to do; nothing changed.
            t.extraArguments = ["--schema", try write("other.json", Self.schema.replacingOccurrences(of: "trade-desk", with: "field-notes"))]
            await #expect(throws: HarnessError.self) { try await t.start(timeout: .seconds(15)) }
            #expect(t.log().contains("already holds the dataset 'trade-desk'") && t.log().contains("start 'field-notes' in a new one"), "\(t.log(last: 5))")
            #expect(try String(contentsOf: t.directory.appendingPathComponent("schema.json"), encoding: .utf8) == Self.schema)
            // --seed alone is refused before anything runs.
            t.extraArguments = ["--seed", root.path("seed.json")]
            await #expect(throws: HarnessError.self) { try await t.start(timeout: .seconds(15)) }
        }

        @Test func daemonsOfTwoDatasetsRefuseEachOther() async throws {
            let a = try DaemonProcess("a", in: root), t = try tradeDesk("t")
            for daemon in [a, t] { try await daemon.start() }
            try connect([(a, t)])
            let reasonOnA = "another dataset: this daemon's is 'critical-minerals' and the other side's 'trade-desk'"
            let reasonOnT = "another dataset: this daemon's is 'trade-desk' and the other side's 'critical-minerals'"
            let refused = try await eventually(timeout: .seconds(20)) {
                let seenByA = try a.status().peers.first?.otherDataset, seenByT = try t.status().peers.first?.otherDataset
                return a.log().contains(reasonOnA) && t.log().contains(reasonOnT) && seenByA == "trade-desk" && seenByT == "critical-minerals"
            }
            #expect(refused, "\(a.log(last: 10))\n\(t.log(last: 10))")
            #expect(a.log().contains("refused peer") && t.log().contains("refused peer"))
            for (daemon, other) in [(a, "trade-desk"), (t, "critical-minerals")] {
                let status = try daemon.status()
                #expect(status.peers.allSatisfy { $0.state != "connected" && ($0.lastError ?? "").contains("another dataset") }, "\(status.peers)")
                let shown = try Syncctl(existing: daemon.directory).run(["status"]).stdout
                #expect(shown.contains("another dataset: the peer's is '\(other)'"), "\(shown)")
                #expect(status.refusedReplicas == 0)
            }
            // Nothing crossed: each keeps its own collections only.
            #expect(try Syncctl(existing: a.directory).run(["list", "shipments"]).status == 1)
            #expect(try SQLiteShell.run(t.directory.appendingPathComponent("data.db").path,
                                        "SELECT count(*) FROM sqlite_master WHERE name = 'countries'").stdout == "0")
            #expect(!a.log().contains("peer connected") && !t.log().contains("peer connected"))
        }

        /// A device of another dataset that holds a good code does not use it up:
        /// the next device of the inviter's dataset joins with the same code.
        @Test func anInvitationIsNotUsedUpByADeviceOfAnotherDataset() async throws {
            let a = try DaemonProcess("a", in: root), t = try tradeDesk("t"), b = try DaemonProcess("b", in: root)
            for daemon in [a, t, b] { try await daemon.start() }
            let invited = try Syncctl(existing: a.directory).run(["invite", "--name", "newcomer"])
            let code = invited.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(invited.status == 0, "\(invited)")

            let refused = try Syncctl(existing: t.directory).run(["join", code, "--timeout", "30"])
            #expect(refused.status == 1 && refused.stderr.contains("refused the invitation: another dataset"), "\(refused)")
            #expect(refused.stderr.contains("stays open"), "\(refused)")
            #expect(a.log().contains("refused an invitation claim") && a.log().contains("other-dataset"))
            #expect(t.log().contains("the inviter holds another dataset"))
            let counts = try #require(try a.status().invitations)
            #expect(counts.open == 1 && counts.refused == ["other-dataset": 1])
            #expect(try a.status().peers.isEmpty)

            let joined = try Syncctl(existing: b.directory).run(["join", code, "--timeout", "30"])
            #expect(joined.status == 0 && joined.stdout.contains("joined"), "\(joined)")
            #expect(try a.status().peers.map(\.name) == ["newcomer"])
            try await a.waitUntilInSync()
        }

        /// `syncctl init --schema` checks the files before it makes anything.
        @Test func initWithADamagedSchemaLeavesNoDirectory() throws {
            let directory = root.url.appendingPathComponent("fresh")
            let damaged = try write("damaged.json", String(Self.schema.dropLast(20)))
            let run = try Syncctl.run(["init", "--data-dir", directory.path, "--schema", damaged])
            #expect(run.status == 1 && run.stderr.contains("damaged.json is invalid"), "\(run)")
            #expect(!FileManager.default.fileExists(atPath: directory.path))

            let reserved = try write("reserved.json", Self.schema.replacingOccurrences(of: "\"shipments\"", with: "\"_shipments\""))
            let underscore = try Syncctl.run(["init", "--data-dir", directory.path, "--schema", reserved])
            #expect(underscore.status == 1 && underscore.stderr.contains("not start with '_'"), "\(underscore)")
            #expect(!FileManager.default.fileExists(atPath: directory.path))

            let seedOnly = try Syncctl.run(["init", "--data-dir", directory.path, "--seed", try write("seed.json", Self.seed)])
            #expect(seedOnly.status != 0 && seedOnly.stderr.contains("--seed goes with --schema"), "\(seedOnly)")
            #expect(!FileManager.default.fileExists(atPath: directory.path))

            // The good files: the dataset with its records; the same files again change nothing.
            let good = ["init", "--data-dir", directory.path, "--schema", try write("team.json", Self.schema), "--seed", root.path("seed.json")]
            let started = try Syncctl.run(good)
            #expect(started.status == 0 && started.stdout.contains("dataset:        trade-desk (schema.json in the data directory), 2 records"), "\(started)")
            #expect(try Syncctl(existing: directory).run(["list", "shipments"]).stdout.contains("First cargo"))
            let again = try Syncctl.run(good)
            #expect(again.status == 0 && again.stdout.contains("nothing changed") && again.stdout.contains("was ignored"), "\(again)")

            // A directory of the shipped dataset is not moved to another.
            let shipped = try Syncctl(in: root, name: "shipped")
            let moved = try shipped.run(["init", "--schema", root.path("team.json")])
            #expect(moved.status == 1 && moved.stderr.contains("already holds the dataset 'critical-minerals' (the shipped one)"), "\(moved)")
            #expect(!FileManager.default.fileExists(atPath: shipped.directory.appendingPathComponent("schema.json").path))
        }
    }
}
