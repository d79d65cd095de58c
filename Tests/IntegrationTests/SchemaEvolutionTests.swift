import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// The schema evolves with the data (docs/schema.md): a change made with
    /// `syncctl schema` on one daemon reaches the others, their SQL tables
    /// grow the column while they run, disagreeing additions conflict and
    /// resolve, and what is not additive is refused.
    @Suite struct SchemaEvolution {
        let root = TemporaryDirectory("syncd-schema")

        @Test func aFieldAddedWhileAPeerIsOfflineReachesItAndItsSQLTable() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            try await a.waitUntilInSync()
            try await b.stop()
            let cliA = Syncctl(existing: a.directory), cliB = Syncctl(existing: b.directory)
            let add = try cliA.run(["schema", "add-field", "agreements", "value_usd", "decimal", "--description", "Headline value in USD"])
            #expect(add.status == 0, "\(add)")
            #expect(try cliA.run(["set", "agreements/us-cn-trade-truce-2025", "value_usd=1500000000"]).status == 0)
            // b, offline, edits other fields (it does not know value_usd yet).
            #expect(try cliB.run(["set", "agreements/us-cn-trade-truce-2025", "status=suspended"]).status == 0)
            #expect(try cliB.run(["set", "agreements/us-cn-trade-truce-2025", "value_usd=1"]).status == 1)
            try await b.start()
            let database = b.directory.appendingPathComponent("data.db").path
            // The column appears in b's table while its syncd runs, with a's value.
            #expect(try await eventually(timeout: .seconds(20)) {
                try SQLiteShell.run(database, "SELECT value_usd FROM agreements WHERE id = 'us-cn-trade-truce-2025'").stdout.contains("1500000000")
            })
            #expect(try cliB.run(["get", "agreements/us-cn-trade-truce-2025"]).stdout.contains("value_usd"))
            #expect(try cliB.run(["schema", "show", "agreements"]).stdout.contains("value_usd"))
            #expect(try await eventually(timeout: .seconds(20)) {
                try cliA.run(["get", "agreements/us-cn-trade-truce-2025"]).stdout.contains("suspended")
            })
            try await a.waitUntilInSync()
            #expect(try a.digest() == b.digest())
        }

        @Test func disagreeingAdditionsConflictOnEveryReplicaAndResolve() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            let cliA = Syncctl(existing: a.directory), cliB = Syncctl(existing: b.directory)
            #expect(try cliA.run(["schema", "add-field", "agreements", "value_usd", "decimal"]).status == 0)
            #expect(try cliB.run(["schema", "add-field", "agreements", "value_usd", "text"]).status == 0)
            try connect([(a, b)])
            for cli in [cliA, cliB] {
                #expect(try await eventually(timeout: .seconds(20)) { try cli.run(["conflicts"]).stdout.contains("_schema/f.agreements.value_usd type") })
                #expect(try cli.run(["schema", "show", "agreements"]).stdout.contains("concurrent definitions disagree"))
            }
            // Settled by picking one definition (a new one is refused).
            _ = try cliA.run(["conflicts"])
            #expect(try cliA.run(["resolve", "_schema/f.agreements.value_usd", "type", "--value", "integer"]).status == 1)
            let resolve = try cliA.run(["resolve", "_schema/f.agreements.value_usd", "type", "--value", "decimal"])
            #expect(resolve.status == 0, "\(resolve)")
            for cli in [cliA, cliB] {
                #expect(try await eventually(timeout: .seconds(20)) { try cli.run(["schema", "show", "agreements"]).stdout.contains("value_usd      decimal") })
            }
            try await a.waitUntilInSync()
            #expect(try a.digest() == b.digest())
        }

        @Test func aDestructiveChangeIsRefusedAndNothingIsWritten() async throws {
            let a = try DaemonProcess("a", in: root)
            try await a.start()
            let cli = Syncctl(existing: a.directory)
            let before = try a.status().highestSeq
            let retype = try cli.run(["schema", "add-field", "countries", "name", "integer"])
            #expect(retype.status == 1 && retype.stderr.contains("a type is never changed"), "\(retype)")
            let narrow = try cli.run(["schema", "add-value", "countries", "region", "asia"])
            #expect(narrow.status == 1 && narrow.stderr.contains("allowed already"), "\(narrow)")
            #expect(try a.status().highestSeq == before)
        }

        /// Another team's dataset (`init --schema`) is refused at hello, with the reason in both logs.
        @Test func aDataDirectoryOnAnotherSchemaIsRefusedAtHello() async throws {
            let schemaFile = root.url.appendingPathComponent("trade.json"), seedFile = root.url.appendingPathComponent("trade-seed.json")
            try Data(#"{"name": "trade-desk", "version": 1, "collections": [{"name": "shipments", "fields": [{"name": "name", "type": "text", "required": true}, {"name": "tonnes", "type": "integer"}]}]}"#.utf8).write(to: schemaFile)
            try Data(#"{"records": [{"dot": 1, "ref": "shipments/first", "fields": {"name": "First", "tonnes": 12}}]}"#.utf8).write(to: seedFile)
            let directory = root.url.appendingPathComponent("t")
            let initialized = try Syncctl.run(["init", "--data-dir", directory.path, "--name", "t", "--listen", "127.0.0.1:0",
                                               "--schema", schemaFile.path, "--seed", seedFile.path])
            #expect(initialized.status == 0, "\(initialized)")
            #expect(try Syncctl(existing: directory).run(["list", "shipments"]).stdout.contains("First"))
            // The same directory cannot be moved to another schema.
            #expect(try Syncctl.run(["init", "--data-dir", directory.path, "--schema", root.url.appendingPathComponent("missing.json").path]).status == 1)
            let a = try DaemonProcess("a", in: root), t = try DaemonProcess(existing: "t", directory: directory)
            for daemon in [a, t] { try await daemon.start() }
            try connect([(a, t)])
            #expect(try await eventually(timeout: .seconds(15)) {
                a.log().contains("the peer holds another dataset (schema 'trade-desk'") && t.log().contains("the peer holds another dataset (schema 'critical-minerals'")
            })
            #expect(try t.status().peers.allSatisfy { $0.state != "connected" })
            #expect(try !Syncctl(existing: a.directory).run(["list", "countries"]).stdout.isEmpty)
            #expect(try Syncctl(existing: directory).run(["list", "countries"]).status == 1)
        }
    }
}
