import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// `syncctl ca revoke`: a revocation signed by the team CA travels from
    /// daemon to daemon and shuts the device out everywhere; one with a bad
    /// signature is refused (replication-model §6.3).
    @Suite struct Revocations {
        let root = TemporaryDirectory("syncd-revoke")

        /// a — b — c in a line, and x (signed by the CA) dialing c; all trust the CA.
        func startTeam() async throws -> (a: DaemonProcess, b: DaemonProcess, c: DaemonProcess, x: DaemonProcess, ca: URL) {
            let caDirectory = root.url.appendingPathComponent("ca")
            let caCertificate = try TeamCA.create(in: caDirectory, name: "minerals desk")
            let daemons = try ["a", "b", "c", "x"].map { try DaemonProcess($0, in: root) }
            for daemon in daemons {
                _ = try TeamCA.sign(deviceDirectory: daemon.directory, caDirectory: caDirectory, deviceName: daemon.name)
                try PeerListEditor(path: daemon.configPath, defaults: .machineDefaults()).set("team_ca", to: caCertificate.path)
            }
            for daemon in daemons { try await daemon.start() }
            let (a, b, c, x) = (daemons[0], daemons[1], daemons[2], daemons[3])
            try connect([(a, b), (b, c)])
            try x.setPeers([c.asPeer()])  // c lists nobody for x: the CA admits it
            #expect(try await eventually { try c.status().peers.contains { $0.deviceID == x.deviceID.description && $0.state == "connected" } })
            return (a, b, c, x, caDirectory)
        }

        @Test func aRevocationMadeOnOneDaemonShutsTheDeviceOutTwoHopsAway() async throws {
            let (a, b, c, x, ca) = try await startTeam()
            let revoke = try Syncctl(existing: a.directory).run(["ca", "revoke", x.deviceID.description, "--ca", ca.path, "--reason", "stolen on the train"])
            #expect(revoke.status == 0 && revoke.stdout.contains("passes the revocation"), "\(revoke)")
            // a → b → c: c closes x's session and holds the revocation.
            #expect(try await eventually(timeout: .seconds(20)) { try c.status().revocations?.held == 1 }, "\(c.log(last: 20))")
            #expect(try await eventually(timeout: .seconds(5)) { try !c.status().peers.contains { $0.deviceID == x.deviceID.description && $0.state == "connected" } })
            #expect(c.log().contains("a device was revoked by the team CA"))
            #expect(try b.status().revocations?.held == 1)
            // x keeps dialing c; it is refused at the handshake, and its edits stay out.
            try x.store().update(RecordRef(parsing: "countries/cn")!, [.set("notes", .text("from the stolen laptop"))], author: "x")
            #expect(try await eventually(timeout: .seconds(10)) { c.log().contains("was revoked by the team CA") && c.log().contains("refused TLS handshake") })
            try await Task.sleep(for: .seconds(2))
            for daemon in [a, b, c] {
                #expect(try daemon.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") != .text("from the stolen laptop"))
            }
            // It survives a restart (kept in revocations.json).
            try await c.stop()
            try await c.start()
            try await Task.sleep(for: .seconds(2))
            #expect(try !c.status().peers.contains { $0.deviceID == x.deviceID.description && $0.state == "connected" })
            #expect(try Syncctl(existing: c.directory).run(["ca", "revoked"]).stdout.contains(x.deviceID.description))
        }

        /// b cannot write revocations.json (here: damaged while it runs):
        /// the good revocation is obeyed and passed on from memory at once,
        /// and saved once the file can be written again.
        @Test func aRevocationThatCannotBeSavedIsObeyedAndRelayedFromMemory() async throws {
            let (a, b, c, x, ca) = try await startTeam()
            let bFile = b.directory.appendingPathComponent("revocations.json")
            try Data("{ not json".utf8).write(to: bFile)
            let revoke = try Syncctl(existing: a.directory).run(["ca", "revoke", x.deviceID.description, "--ca", ca.path])
            #expect(revoke.status == 0, "\(revoke)")
            #expect(try await eventually(timeout: .seconds(20)) { try c.status().revocations?.held == 1 }, "\(b.log(last: 20))")
            #expect(try await eventually(timeout: .seconds(5)) { try !c.status().peers.contains { $0.deviceID == x.deviceID.description && $0.state == "connected" } })
            #expect(b.log().contains("cannot save revocations") && b.log().contains("a device was revoked by the team CA"))
            #expect(try b.status().revocations?.held == 1)
            #expect(try String(contentsOf: bFile, encoding: .utf8) == "{ not json")
            // The file is fixed (here: removed); the next look saves what memory held.
            try FileManager.default.removeItem(at: bFile)
            _ = try b.control(ControlRequest(command: "revoked"))
            #expect(try await eventually(timeout: .seconds(10)) { (try? String(contentsOf: bFile, encoding: .utf8))?.contains(x.deviceID.description) == true }, "\(b.log(last: 10))")
            #expect(b.log().contains("saved the revocations held in memory"))
        }

        /// A revoked device that is also a listed peer stays out while the
        /// configured team CA cannot be read (fail closed).
        @Test func aRevocationHoldsWhileTheTeamCAIsUnreadable() async throws {
            let (a, b, c, x, ca) = try await startTeam()
            #expect(try Syncctl(existing: a.directory).run(["ca", "revoke", x.deviceID.description, "--ca", ca.path]).status == 0)
            #expect(try await eventually(timeout: .seconds(20)) { try c.status().revocations?.held == 1 })
            let refusedBefore = c.log().components(separatedBy: "was revoked by the team CA").count
            // While c runs, its config lists x as a peer and points team_ca at a file that cannot be read.
            try PeerListEditor(path: c.configPath, defaults: .machineDefaults()).set("team_ca", to: root.url.appendingPathComponent("moved-away.pem").path)
            try await c.setPeersAndWaitForReload([b.asPeer(dial: false), x.asPeer(dial: false)])
            try await Task.sleep(for: .seconds(3))
            #expect(try !c.status().peers.contains { $0.deviceID == x.deviceID.description && $0.state == "connected" }, "\(c.log(last: 20))")
            #expect(try await eventually(timeout: .seconds(10)) { c.log().components(separatedBy: "was revoked by the team CA").count > refusedBefore }, "\(c.log(last: 20))")
        }

        @Test func aRevocationWithABadSignatureIsRefused() async throws {
            let (a, b, c, x, ca) = try await startTeam()
            // A revocation of x whose signature does not match, planted in a's
            // file (as a misbehaving daemon would hold it) and passed on.
            var forged = try SignedRevocation.make(device: x.deviceID, reason: "forged", at: Date(), caKey: TeamCA.loadKey(in: ca))
            forged.reason = "changed after signing"
            try RevocationFile(directory: a.directory).update { _ = $0.add(forged) }
            _ = try a.control(ControlRequest(command: "revoked"))
            #expect(try await eventually(timeout: .seconds(15)) { try b.status().revocations?.refused ?? 0 >= 1 }, "\(b.log(last: 20))")
            #expect(b.log().contains("refused a revocation") && b.log().contains("bad signature"))
            #expect(try b.status().revocations?.held == 0)
            try await Task.sleep(for: .seconds(1))
            // Not passed on, not obeyed: c still serves x.
            #expect(try c.status().revocations?.held == 0)
            #expect(try c.status().peers.contains { $0.deviceID == x.deviceID.description && $0.state == "connected" })
            // One signed by another CA (a revocations.json copied from
            // another team) is neither obeyed nor passed on by the daemon
            // whose file holds it.
            let otherCA = root.url.appendingPathComponent("other-ca")
            _ = try TeamCA.create(in: otherCA, name: "someone else")
            let foreign = try SignedRevocation.make(device: x.deviceID, reason: "not ours", at: Date(), caKey: TeamCA.loadKey(in: otherCA))
            try RevocationFile(directory: a.directory).update { _ = $0.add(foreign) }
            _ = try a.control(ControlRequest(command: "revoked"))
            try await Task.sleep(for: .seconds(2))
            #expect(!a.log().contains("not ours") && !b.log().contains("signed by another CA"), "\(a.log(last: 20))")
            #expect(try b.status().revocations?.held == 0)
            #expect(try c.status().peers.contains { $0.deviceID == x.deviceID.description && $0.state == "connected" })
        }
    }
}
