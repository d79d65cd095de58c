import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// With a team CA configured, a device it signed is accepted without being
    /// listed; everyone else is still refused in the handshake.
    @Suite struct TeamCAAdmission {
        let root = TemporaryDirectory("syncd-teamca")

        @Test func aSignedDeviceIsAcceptedWithoutBeingListed() async throws {
            let (a, b) = try await startTeamCAPair(in: root)  // b lists nobody: a is admitted through the team CA

            try a.store().update(RecordRef(parsing: "countries/cn")!, [.set("notes", .text("via team CA"))], author: "a")
            #expect(try await eventually { try b.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") == .text("via team CA") },
                    "b did not take a's change:\n\(b.log(last: 20))")
            let admitted = try b.status().peers
            #expect(admitted.count == 1 && admitted.first?.viaTeamCA == true && admitted.first?.deviceID == a.deviceID.description)

            let strangerDirectory = root.url.appendingPathComponent("stranger")
            try FileManager.default.createDirectory(at: strangerDirectory, withIntermediateDirectories: true)
            let stranger = try DeviceIdentity.loadOrCreate(in: strangerDirectory, deviceName: "stranger").identity
            let peer = try await RawPeer.connect(port: b.port, identity: stranger)
            #expect(try await peer.waitUntilClosed(timeout: .seconds(10)))
            #expect(try peer.inbox.takeFrame() == nil)
            #expect(try await eventually(timeout: .seconds(5)) { b.log().contains("not signed by the team CA") })
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}
