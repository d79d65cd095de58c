import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// A device that dials without being a peer is recorded, never accepted
    /// on its own; `syncctl peers accept` makes it a peer and they sync.
    @Suite struct PendingDevices {
        let root = TemporaryDirectory("syncd-pending")

        @Test func aDeviceThatDialsIsPendingUntilAccepted() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            // a dials b; b does not know a.
            try await a.setPeersAndWaitForReload([b.asPeer()])
            let cli = Syncctl(existing: b.directory)
            #expect(try await eventually(timeout: .seconds(15)) { try cli.run(["peers", "pending", "--json"]).stdout.contains(a.deviceID.description) })
            let pending = try cli.run(["peers", "pending"])
            #expect(pending.stdout.contains("a ") && pending.stdout.contains(a.deviceID.description), "\(pending)")
            #expect(try b.status().pendingDevices == 1)
            #expect(try cli.run(["status"]).stdout.contains("asked to connect"))
            #expect(b.log().contains("a device that is not a peer asked to connect"))
            // Nothing was accepted on its own.
            #expect(try b.status().peers.isEmpty)

            let accept = try cli.run(["peers", "accept", "a", "--mode", "receive-only"])
            #expect(accept.status == 0 && accept.stdout.contains("accepted a"), "\(accept)")
            #expect(try cli.run(["peers", "pending", "--json"]).stdout.contains(a.deviceID.description) == false)
            try Syncctl(existing: a.directory).run(["set", "countries/cn", "notes=after the accept"])
            #expect(try await eventually(timeout: .seconds(20)) { try b.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") == .text("after the accept") })
            #expect(try b.status().peers.first?.mode == "receive-only")
        }

        @Test func anIgnoredDeviceIsNotListedAndStaysRefused() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try await a.setPeersAndWaitForReload([b.asPeer()])
            let cli = Syncctl(existing: b.directory)
            #expect(try await eventually(timeout: .seconds(15)) { try cli.run(["peers", "pending", "--json"]).stdout.contains(a.deviceID.description) })
            #expect(try cli.run(["peers", "ignore", a.deviceID.description]).status == 0)
            #expect(try cli.run(["peers", "pending"]).stdout.contains("no device is waiting"))
            #expect(try cli.run(["peers", "pending", "--all"]).stdout.contains("(ignored)"))
            #expect(try b.status().pendingDevices == 0 && b.status().peers.isEmpty)
            #expect(try cli.run(["peers", "accept", "nobody"]).status == 1)
        }
    }
}
