import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// Schema changes with real daemons and the real CLI: made with
    /// `syncctl schema` on one machine while both daemons run, they reach
    /// the other, whose SQL table gains the column without a restart
    /// (docs/schema.md "How the schema evolves").
    @Suite struct SchemaEvolution {
        let root = TemporaryDirectory("syncd-schema-evolution")

        func pair() async throws -> (DaemonProcess, DaemonProcess) {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            try await a.waitUntilInSync()
            return (a, b)
        }

        func sql(_ daemon: DaemonProcess, _ query: String) throws -> String {
            try SQLiteShell.run(daemon.directory.appendingPathComponent("data.db").path, query).stdout
        }

        @Test func aFieldAddedOnOneMachineBecomesAColumnOnTheOtherWhileItRuns() async throws {
            let (a, b) = try await pair()
            let cliA = Syncctl(existing: a.directory), cliB = Syncctl(existing: b.directory)
            let started = ContinuousClock.now
            for arguments in [["schema", "add-field", "agreements", "value_usd", "decimal", "--description", "Headline value in USD"],
                              ["schema", "add-collection", "mines", "--description", "Mines and deposits"],
                              ["schema", "add-field", "mines", "stage", "enum", "--values", "producing,exploration"],
                              ["set", "agreements/us-cn-trade-truce-2025", "value_usd=12.5"],
                              ["create", "mines/bayan-obo", "stage=producing"]] {
                let run = try cliA.run(arguments)
                #expect(run.status == 0, "\(run)")
            }
            let arrived = try await eventually(timeout: .seconds(10), every: .milliseconds(20)) {
                try sql(b, "select value_usd from agreements where id = 'us-cn-trade-truce-2025'") == "12.5"
                    && sql(b, "select stage from mines where id = 'bayan-obo'") == "producing"
            }
            #expect(arrived, "\(b.log(last: 30))")
            print("schema change + data on a → columns and rows on b: \(ContinuousClock.now - started)")
            let shown = try cliB.run(["schema", "show", "mines", "--json"])
            #expect(shown.stdout.contains("\"stage\""), "\(shown)")
            // b's daemon validates against the new schema: a web or CLI write on b uses it.
            #expect(try cliB.run(["set", "mines/bayan-obo", "stage=exploration"]).status == 0)
            #expect(try cliB.run(["set", "mines/bayan-obo", "stage=closed"]).status == 1)
            #expect(try await eventually(timeout: .seconds(10)) { try sql(a, "select stage from mines where id = 'bayan-obo'") == "exploration" })

            // Not additive: refused with what to do instead.
            let retype = try cliB.run(["schema", "add-field", "agreements", "value_usd", "text"])
            #expect(retype.status == 1 && retype.stderr.contains("a type is never changed"), "\(retype)")
            let raw = try cliB.run(["set", "_schema/f.agreements.value_usd", "type=text"])
            #expect(raw.status == 1 && raw.stderr.contains("syncctl schema"), "\(raw)")
            #expect(try await eventually(timeout: .seconds(10)) { try a.digest() == b.digest() })
        }

        /// The same field added on both sides with different types, while
        /// they are apart: a conflict `syncctl conflicts` lists on both, and
        /// `resolve` settles it everywhere.
        @Test func concurrentDisagreeingFieldsConflictAndAreResolved() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            let cliA = Syncctl(existing: a.directory), cliB = Syncctl(existing: b.directory)
            #expect(try cliA.run(["schema", "add-field", "agreements", "value_usd", "decimal"]).status == 0)
            #expect(try cliB.run(["schema", "add-field", "agreements", "value_usd", "text"]).status == 0)
            try connect([(a, b)])
            #expect(try await eventually(timeout: .seconds(15)) { try a.digest() == b.digest() })
            let conflicts = try cliB.run(["conflicts"])
            #expect(conflicts.stdout.contains("_schema/f.agreements.value_usd"), "\(conflicts)")
            let shown = try cliB.run(["schema", "show", "agreements"])
            #expect(shown.stdout.contains("withheld") && shown.stdout.contains("concurrent definitions disagree"), "\(shown)")
            let resolve = try cliB.run(["resolve", "_schema/f.agreements.value_usd", "type", "--value", "decimal"])
            #expect(resolve.status == 0, "\(resolve)")
            #expect(try await eventually(timeout: .seconds(15)) {
                try sql(a, "select count(*) from pragma_table_info('agreements') where name = 'value_usd'") == "1"
            }, "\(a.log(last: 20))")
            #expect(try cliA.run(["conflicts"]).stdout.contains("_schema") == false)
        }
    }
}
