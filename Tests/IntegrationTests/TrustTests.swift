import Foundation
import NIOSSL
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// Who may connect (replication-model §6): only configured device IDs, over TLS 1.3,
    /// and a replica id stays bound to the device that first presented it.
    @Suite struct Trust {
        let root = TemporaryDirectory("syncd-trust")

        func identity(_ name: String) throws -> DeviceIdentity {
            let directory = root.url.appendingPathComponent("client-\(name)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            return try DeviceIdentity.loadOrCreate(in: directory, deviceName: name).identity
        }

        /// The daemon must hang up without sending a single byte of data.
        func expectRefused(_ peer: RawPeer, _ label: String) async throws {
            if await (try? peer.send(RawPeer.lengthPrefix(1) + [8])) == nil {
                // The handshake already failed on our side.
            }
            #expect(try await peer.waitUntilClosed(timeout: .seconds(10)), "\(label): connection left open")
            #expect(try peer.inbox.takeFrame() == nil, "\(label): the daemon sent a frame")
            peer.close()
        }

        @Test func strangersOldTLSAndMissingCertificatesAreRefused() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            let configured = try identity("configured")
            try connect([(a, b)])
            var peers = try PeerListEditor(path: b.configPath, defaults: .machineDefaults()).load().peers
            peers.append(PeerConfig(deviceID: configured.deviceID, name: "configured", address: nil, mode: .sendReceive))
            try b.setPeers(peers)
            try await a.waitUntilInSync()

            try await expectRefused(try await RawPeer.connect(port: b.port, identity: nil), "no certificate")
            try await expectRefused(try await RawPeer.connect(port: b.port, identity: try identity("stranger")), "unconfigured self-signed certificate")
            // A stranger that speaks the protocol properly gets no data either:
            // no hello back, no batch for its pull.
            let stranger = try await RawPeer.connect(port: b.port, identity: try identity("stranger-speaking"))
            try? await stranger.send(.hello(.init(replica: .random(), deviceName: "stranger", schemaHash: "test", willSend: false, willReceive: true, highestSeq: 0)))
            try? await stranger.send(.pull(cursor: 0, maxCount: 1_000, maxBytes: 1 << 20, wait: false))
            #expect(try await stranger.waitUntilClosed(timeout: .seconds(10)), "stranger left connected")
            #expect(stranger.inbox.received == 0, "the daemon sent a stranger \(stranger.inbox.received) bytes of application data")
            stranger.close()
            try await expectRefused(try await RawPeer.connect(port: b.port, identity: configured, maximumTLSVersion: .tlsv12), "TLS 1.2 only")

            for reason in ["no client certificate presented", "is not a configured peer", "does not speak TLS 1.3"] {
                #expect(try await eventually(timeout: .seconds(5)) { b.log().contains(reason) }, "'\(reason)' not logged:\n\(b.log(last: 20))")
            }
            #expect(try b.status().refusedHandshakes >= 3)

            // The daemon kept serving its real peer throughout.
            try a.store().update(RecordRef(parsing: "countries/cn")!, [.set("notes", .text("still syncing"))], author: "a")
            #expect(try await eventually { try b.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") == .text("still syncing") })

            // The configured identity over TLS 1.3 is accepted: the refusals above were for the reasons tested.
            let accepted = try await RawPeer.connect(port: b.port, identity: configured)
            try await accepted.send(.hello(.init(replica: .random(), deviceName: "configured", schemaHash: "test",
                                                 willSend: false, willReceive: false, highestSeq: 0)))
            guard case .hello = try await accepted.nextMessage() else {
                Issue.record("a configured peer over TLS 1.3 got no hello:\n\(b.log(last: 20))")
                return
            }
            accepted.close()
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func aReplicaIDPresentedByAnotherDeviceIsRefusedAndReported() async throws {
            let b = try DaemonProcess("b", in: root)
            try await b.start()
            let first = try identity("first"), second = try identity("second")
            try await b.setPeersAndWaitForReload([PeerConfig(deviceID: first.deviceID, name: "first", address: nil, mode: .sendReceive),
                                                  PeerConfig(deviceID: second.deviceID, name: "second", address: nil, mode: .sendReceive)])
            // Protocol 1.1 (no proof): ids are bound first come, first bound.
            let replica = ReplicaID.random()
            let hello = SyncMessage.Hello(protocolMinor: 1, replica: replica, deviceName: "x", schemaHash: "test", willSend: false, willReceive: false, highestSeq: 0)

            let original = try await RawPeer.connect(port: b.port, identity: first)
            try await original.send(.hello(hello))
            guard case .hello = try await original.nextMessage() else {
                Issue.record("first device not accepted:\n\(b.log(last: 20))")
                return
            }
            original.close()

            let impostor = try await RawPeer.connect(port: b.port, identity: second)
            try await impostor.send(.hello(hello))
            var sawGoodbye = false
            while let message = try await impostor.nextMessage(timeout: .seconds(5)) {
                if case .goodbye(let reason) = message { sawGoodbye = reason.contains("seen before with device") }
            }
            #expect(sawGoodbye, "impostor was not told why:\n\(b.log(last: 20))")
            #expect(try await impostor.waitUntilClosed(timeout: .seconds(5)))
            // The daemon logs the refusal after sending the goodbye.
            #expect(try await eventually(timeout: .seconds(5)) { b.log().contains("was seen before with device") })
            #expect(try b.status().refusedReplicas == 1)
            try await b.stop()
        }
    }
}
