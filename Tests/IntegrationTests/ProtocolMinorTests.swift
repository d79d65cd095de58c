import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// Protocol 1.1 added tabled batches; a peer whose hello says 1.0 must
    /// still get plain batches it can decode (docs/protocol.md, Versioning).
    @Suite struct ProtocolMinor {
        let root = TemporaryDirectory("syncd-minor")

        @Test func eachMinorGetsWhatItSpeaks() async throws {
            let daemon = try DaemonProcess("a", in: root)
            try await daemon.start()
            var peers = try PeerListEditor(path: daemon.configPath, defaults: .machineDefaults()).load().peers
            var probers: [(minor: UInt16, identity: DeviceIdentity)] = []
            for minor: UInt16 in [0, 1, 2] {
                let directory = root.url.appendingPathComponent("prober-\(minor)")
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                let identity = try DeviceIdentity.loadOrCreate(in: directory, deviceName: "prober-\(minor)").identity
                peers.append(PeerConfig(deviceID: identity.deviceID, name: "prober-\(minor)", address: nil, mode: .sendReceive))
                probers.append((minor, identity))
            }
            try await daemon.setPeersAndWaitForReload(peers)

            var received: [UInt16: SyncMessage.Batch] = [:]
            for (minor, identity) in probers {
                let peer = try await RawPeer.connect(port: daemon.port, identity: identity)
                if minor >= 2 {
                    try await peer.introduce(as: identity, name: "prober-\(minor)", sends: false, receives: true)
                } else {
                    try await peer.send(.hello(.init(protocolMinor: minor, replica: .random(), deviceName: "prober-\(minor)", schemaHash: "test",
                                                     willSend: false, willReceive: true, highestSeq: 0)))
                }
                guard case .hello(let hello) = try await peer.nextMessage() else {
                    Issue.record("prober \(minor) not accepted:\n\(daemon.log(last: 20))")
                    return
                }
                if minor >= 2 {
                    // The daemon proves its own id: derived from the device its certificate shows.
                    guard case .replicaProof(let nonce) = try await peer.nextMessage() else {
                        Issue.record("no replica proof for prober \(minor):\n\(daemon.log(last: 20))")
                        return
                    }
                    #expect(ReplicaProof.proves(replica: hello.replica, device: daemon.deviceID, nonce: nonce))
                }
                try await peer.send(.pull(cursor: 0, maxCount: 100, maxBytes: 1 << 20, wait: false))
                guard case .batch(let batch)? = try await peer.nextMessage() else {
                    Issue.record("no batch for prober \(minor):\n\(daemon.log(last: 20))")
                    return
                }
                received[minor] = batch
                peer.close()
            }
            #expect(received[0]?.tabled == false)
            #expect(received[1]?.tabled == true)
            #expect(received[2]?.tabled == true)
            #expect((50...100).contains(received[0]?.changes.count ?? 0))
            #expect(received[0]?.changes == received[1]?.changes)
            try await daemon.stop()
        }
    }
}
