import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// `syncctl peers block`: a device the team CA signed is disconnected at
    /// once and refused from then on; `unblock` lifts it.
    @Suite struct Block {
        let root = TemporaryDirectory("syncd-block")

        @Test func aBlockedDeviceSignedByTheTeamCAIsDisconnectedAndRefused() async throws {
            let (a, b) = try await startTeamCAPair(in: root)  // b lists nobody: a is admitted through the team CA
            #expect(try await eventually { try b.status().peers.first?.state == "connected" }, "\(b.log(last: 20))")

            let cli = Syncctl(existing: b.directory)
            let block = try cli.run(["peers", "block", a.deviceID.description, "--reason", "laptop stolen"])
            #expect(block.status == 0 && block.stdout.contains("closed its connection"), "\(block)")
            #expect(try await eventually(timeout: .seconds(5)) { try b.status().peers.allSatisfy { $0.state != "connected" } })
            // a keeps dialing; every attempt is refused, and its edits no longer arrive.
            try a.store().update(RecordRef(parsing: "countries/cn")!, [.set("notes", .text("after the block"))], author: "a")
            #expect(try await eventually(timeout: .seconds(10)) { b.log().contains("is blocked") })
            try await Task.sleep(for: .seconds(2))
            #expect(try b.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") != .text("after the block"))
            #expect(FileManager.default.fileExists(atPath: b.directory.appendingPathComponent("blocked-devices.json").path))

            // Lifted: the team CA admits it again.
            #expect(try cli.run(["peers", "unblock", a.deviceID.description]).status == 0)
            #expect(try await eventually(timeout: .seconds(20)) { try b.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") == .text("after the block") })
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func aBlockedPeerIsRemovedFromTheConfig() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            try await a.waitUntilInSync()
            let cli = Syncctl(existing: b.directory)
            let name = try b.status().peers.first!.name
            #expect(try cli.run(["peers", "block", name]).status == 0)
            #expect(try PeerListEditor(path: b.configPath, defaults: .machineDefaults()).load().peers.isEmpty)
            #expect(try await eventually(timeout: .seconds(5)) { try a.status().peers.allSatisfy { $0.state != "connected" } })
            // Added back by hand, it is still refused until unblocked.
            #expect(try cli.run(["peers", "add", a.deviceID.description, "--name", "a"]).status == 0)
            try await Task.sleep(for: .seconds(2))
            #expect(try b.status().peers.allSatisfy { $0.state != "connected" })
        }
    }
}
