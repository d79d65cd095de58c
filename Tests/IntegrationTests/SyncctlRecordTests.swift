import Foundation
@_spi(Testing) import SyncCore
import Testing
import TestSupport

extension Integration {
    /// `syncctl` as an analyst runs it: the built binary on a temporary data
    /// directory, checking output and exit codes (0, 1 error, 2 usage).
    @Suite struct SyncctlRecords {
        let root = TemporaryDirectory("syncctl")

        @Test func initAndIdAgree() throws {
            let cli = try Syncctl(in: root)
            let id = try cli.run(["id"])
            #expect(id.status == 0 && DeviceID(id.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) != nil)
            let again = try cli.run(["init", "--json"])
            #expect(again.status == 0)
            let json = try again.json() as? [String: Any]
            #expect(json?["deviceID"] as? String == id.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect((json?["created"] as? [String])?.isEmpty == true)
            #expect(try Syncctl.run(["id", "--data-dir", root.path("nowhere")]).stderr.contains("syncd --data-dir"))
        }

        /// A database written before record rows is moved by the first
        /// command that opens it; the move is reported on stderr, and the
        /// command's JSON on stdout is untouched.
        @Test func aFormatOneDatabaseMovesOnFirstUseWithCleanJSON() throws {
            let cli = try Syncctl(in: root)
            let expected = try cli.digest()
            try cli.store().rewriteAsFormatOne()
            let get = try cli.run(["get", "agreements/us-cn-trade-truce-2025", "--json"])
            #expect(get.status == 0, "\(get)")
            #expect((try get.json() as? [String: Any])?["fields"] != nil, "\(get)")
            #expect(get.stderr.contains("moving the database to one row per record"), "\(get)")
            #expect(get.stderr.contains("moved the database to format 2"), "\(get)")
            #expect(try cli.digest() == expected)
        }

        @Test func getListAndTheirJSON() throws {
            let cli = try Syncctl(in: root)
            let get = try cli.run(["get", "agreements/us-cn-trade-truce-2025"])
            #expect(get.status == 0 && get.stdout.contains("status") && get.stdout.contains("active"))
            let record = try cli.run(["get", "agreements/us-cn-trade-truce-2025", "--json"]).json() as? [String: Any]
            let fields = record?["fields"] as? [String: Any]
            #expect(fields?["status"] as? String == "active")
            #expect(fields?["parties"] as? [String] == ["countries/cn", "countries/us"])
            #expect(record?["conflicted"] as? Bool == false)

            let list = try cli.run(["list", "agreements", "--where", "status=active"])
            #expect(list.status == 0)
            #expect(list.stdout.split(separator: "\n").allSatisfy { $0.count <= 80 }, "wider than 80 columns:\n\(list.stdout)")
            let listed = try cli.run(["list", "agreements", "--where", "parties=countries/us", "--json"]).json() as? [String: Any]
            let ids = (listed?["records"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
            #expect(ids.contains("us-cn-trade-truce-2025"))
            #expect(listed?["count"] as? Int == ids.count)
        }

        @Test func editsAndClearErrorsThatWriteNothing() throws {
            let cli = try Syncctl(in: root)
            #expect(try cli.run(["create", "countries/mn", "name=Mongolia", "region=asia"]).status == 0)
            #expect(try cli.run(["set", "countries/mn", "notes=Rare earths", "--author", "ana"]).status == 0)
            #expect(try cli.run(["set", "minerals/cobalt", "uses+=magnets", "uses-=batteries"]).status == 0)
            let cobalt = try cli.store().record(RecordRef(parsing: "minerals/cobalt")!)
            #expect(cobalt?.presentMembers("uses").contains("magnets") == true)
            #expect(try cli.store().history(RecordRef(parsing: "countries/mn")!, field: "notes").last?.version.author == "ana")

            let before = try cli.digest()
            let failures: [([String], Int32, String)] = [
                (["set", "agreement/x", "status=active"], 1, "Did you mean 'agreements'?"),
                (["set", "agreements/us-cn-trade-truce-2025", "stauts=active"], 1, "Did you mean 'status'?"),
                (["set", "agreements/us-cn-trade-truce-2025", "status=paused"], 1, "Allowed: proposed, negotiating, active, suspended, expired"),
                (["set", "agreements/us-cn-trade-truce-2025", "announced=2025-13-45"], 1, "date"),
                (["set", "agreements/no-such-deal", "status=active"], 1, "no record agreements/no-such-deal"),
                (["get", "agreements/no-such-deal"], 1, "no record"),
                (["set", "not-a-record", "status=active"], 2, "COLLECTION/ID"),
                (["set", "agreements/us-cn-trade-truce-2025", "status=active", "bogus"], 2, "FIELD=VALUE"),
                (["delete", "countries/nowhere"], 1, "no record"),
                (["create", "countries/xx", "region=asia"], 1, "name"),
                (["frobnicate"], 2, "syncctl --help"),
            ]
            for (arguments, status, message) in failures {
                let run = try cli.run(arguments)
                #expect(run.status == status, "\(arguments): \(run)")
                #expect(run.stderr.contains(message), "\(arguments): \(run)")
            }
            #expect(try cli.digest() == before, "a failed command wrote something")

            #expect(try cli.run(["delete", "countries/mn"]).status == 0)
            #expect(try cli.store().record(RecordRef(parsing: "countries/mn")!)?.exists == false)
        }

        @Test func historyCheckAndDigest() throws {
            let cli = try Syncctl(in: root)
            try cli.run(["set", "agreements/us-cn-trade-truce-2025", "status=suspended"])
            let history = try cli.run(["history", "agreements/us-cn-trade-truce-2025", "status"])
            #expect(history.stdout.contains("superseded") && history.stdout.contains("current"))
            let json = try cli.run(["history", "agreements/us-cn-trade-truce-2025", "status", "--json"]).json() as? [String: Any]
            let versions = json?["versions"] as? [[String: Any]] ?? []
            #expect(versions.count == 2)
            #expect((versions.last?["version"] as? [String: Any])?["value"] as? String == "suspended")
            #expect(versions.map { $0["current"] as? Bool } == [false, true])

            #expect(try cli.run(["check"]).status == 0)
            try cli.run(["set", "agreements/us-cn-trade-truce-2025", "parties+=countries/atlantis"])
            let check = try cli.run(["check"])
            #expect(check.status == 1 && check.stdout.contains("countries/atlantis"))
            let digest = try cli.run(["digest"])
            #expect(digest.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == (try cli.digest()))
        }

        @Test func peersAreManagedInTheConfig() throws {
            let cli = try Syncctl(in: root)
            let other = DeviceID(spki: [9, 9, 9]).description
            #expect(try cli.run(["peers", "add", other, "--address", "127.0.0.1:22999", "--name", "bo", "--mode", "receive-only"]).status == 0)
            #expect(try cli.run(["peers", "list"]).stdout.contains("receive-only"))
            let config = try DaemonConfig.load(from: cli.directory.appendingPathComponent("config.yaml"), defaults: .machineDefaults())
            #expect(config.peers.first?.name == "bo" && config.peers.first?.mode == .receiveOnly)
            #expect(try cli.run(["peers", "add", "nonsense"]).status == 2)
            #expect(try cli.run(["peers", "remove", "bo"]).status == 0)
            #expect(try cli.run(["peers", "remove", "bo"]).status == 1)
        }

        @Test func daemonCommandsSayWhenTheDaemonIsDown() throws {
            let cli = try Syncctl(in: root)
            for command in [["status"], ["sync", "--timeout", "1"]] {
                let run = try cli.run(command)
                #expect(run.status == 1, "\(command): \(run)")
                #expect(run.stderr.contains("not running") && run.stderr.contains("syncd"), "\(command): \(run)")
            }
        }
    }
}

extension Integration {
    @Suite struct SyncctlDaemon {
        let root = TemporaryDirectory("syncctl-daemon")

        @Test func statusAndSyncTalkToTheRunningDaemon() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            let cli = Syncctl(existing: a.directory)
            let sync = try cli.run(["sync", "--timeout", "20"])
            #expect(sync.status == 0 && sync.stdout.contains("caught up"), "\(sync)")
            let status = try cli.run(["status", "--json"])
            #expect(status.status == 0)
            let json = try status.json() as? [String: Any]
            #expect(json?["deviceID"] as? String == a.deviceID.description)
            let peers = json?["peers"] as? [[String: Any]] ?? []
            #expect(peers.first?["name"] as? String == "b" && peers.first?["state"] as? String == "connected")
            let human = try cli.run(["status"])
            #expect(human.stdout.contains("in sync"), "\(human)")
            #expect(human.stdout.split(separator: "\n").allSatisfy { $0.count <= 80 }, "\(human)")
            let unknown = try cli.run(["sync", "--peer", "nobody", "--timeout", "2"])
            #expect(unknown.status == 1 && unknown.stderr.contains("no configured peer named 'nobody'"), "\(unknown)")

            // A write by syncctl is shipped by the running daemon.
            #expect(try cli.run(["set", "countries/cn", "notes=from syncctl", "--author", "ana"]).status == 0)
            #expect(try await eventually { try b.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") == .text("from syncctl") })
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}
