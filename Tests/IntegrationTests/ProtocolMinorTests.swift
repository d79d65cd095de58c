import Foundation
import GRDB
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
                guard case .batch(let batch)? = try await peer.nextReply() else {
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

        /// Storage format 6 (rows without slot hashes, protocol 1.8) is what
        /// a join snapshot holds now; a joiner of protocol 1.5 reads format 3
        /// only, of 1.6 format 4 at most, of 1.7 format 5 at most, so each is
        /// refused before any byte crosses, with the reason, and pulls instead.
        @Test(arguments: [UInt16(5), 6, 7])
        func aJoinerOfAnEarlierMinorIsRefusedTheSnapshotAndPulls(minor: UInt16) async throws {
            let daemon = try DaemonProcess("a", in: root)
            try await daemon.start()
            let directory = root.url.appendingPathComponent("joiner-\(minor)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let identity = try DeviceIdentity.loadOrCreate(in: directory, deviceName: "joiner-\(minor)").identity
            var peers = try PeerListEditor(path: daemon.configPath, defaults: .machineDefaults()).load().peers
            peers.append(PeerConfig(deviceID: identity.deviceID, name: "joiner-\(minor)", address: nil, mode: .sendReceive))
            try await daemon.setPeersAndWaitForReload(peers)

            let peer = try await RawPeer.connect(port: daemon.port, identity: identity)
            let nonce = (0..<ReplicaProof.nonceBytes).map { _ in UInt8.random(in: 0...255) }
            var hello = SyncMessage.Hello(protocolMinor: minor, replica: ReplicaProof.replica(device: identity.deviceID, nonce: nonce), deviceName: "joiner-\(minor)",
                                          schemaHash: "test", willSend: false, willReceive: true, highestSeq: 0, lineage: SchemaLineage.shipped)
            hello.joinDecisionFollows = true
            try await peer.send(.hello(hello))
            try await peer.send(.replicaProof(nonce: nonce))
            try await peer.send(.snapshotPull(offset: 0, maxBytes: 1 << 20))
            var refusal: String?
            for _ in 0..<4 {
                guard let message = try await peer.nextMessage() else { break }
                if case .snapshotChunk(let chunk) = message {
                    #expect(chunk.data.isEmpty)
                    refusal = chunk.refusal
                    break
                }
            }
            #expect(refusal?.contains("storage format 6") == true, "\(refusal ?? "no refusal"):\n\(daemon.log(last: 20))")
            try await peer.send(.snapshotEnd(reason: "refused"))
            try await peer.send(.pull(cursor: 0, maxCount: 100, maxBytes: 1 << 20, wait: false))
            var batch: SyncMessage.Batch?
            for _ in 0..<4 {
                guard let message = try await peer.nextMessage() else { break }
                if case .batch(let received) = message { batch = received; break }
            }
            #expect(batch?.changes.isEmpty == false, "no batch after the refusal:\n\(daemon.log(last: 20))")
            #expect(batch?.changes.allSatisfy { $0.origin == nil } == true)
            peer.close()
            try await daemon.stop()
        }
    
        /// A writing `syncctl` of this version does not mark the file with a
        /// format the running daemon (of an earlier version, which read the
        /// format when it opened the file) cannot read: it refuses, and says
        /// what to do. Made here by lowering the format under a running daemon.
        @Test func syncctlDoesNotUpgradeTheFileUnderAnOlderDaemon() async throws {
            let daemon = try DaemonProcess("old", in: root)
            try await daemon.start()
            let path = daemon.directory.appendingPathComponent("data.db").path
            let queue = try DatabaseQueue(path: path)
            try await queue.write { try $0.execute(sql: "UPDATE sync_meta SET value = 4 WHERE key = 'format'") }
            try queue.close()
            let refused = try Syncctl(existing: daemon.directory).run(["set", "countries/cn", "notes=written by a newer syncctl"])
            #expect(refused.status != 0 && refused.stderr.contains("storage format 4") && refused.stderr.contains("Stop syncd"), "\(refused)")
            #expect(Store.storedFormat(path: path) == 4, "the file was marked anyway")
            let reads = try Syncctl(existing: daemon.directory).run(["get", "countries/cn"])
            #expect(reads.status == 0, "reading is not refused: \(reads)")
            // A read that needs setup work (here a schema hash that is not the
            // tables') falls back to a writing open: refused the same way.
            let again = try DatabaseQueue(path: path)
            try await again.write { try $0.execute(sql: "UPDATE sync_meta SET value = 'x' WHERE key = 'schema_hash'") }
            try again.close()
            let fallback = try Syncctl(existing: daemon.directory).run(["get", "countries/cn"])
            #expect(fallback.status != 0 && fallback.stderr.contains("storage format 4"), "\(fallback)")
            #expect(Store.storedFormat(path: path) == 4, "the file was marked by a read")
            try await daemon.stop()
            let allowed = try Syncctl(existing: daemon.directory).run(["set", "countries/cn", "notes=no daemon runs"])
            #expect(allowed.status == 0, "\(allowed)")
            #expect(Store.storedFormat(path: path) == Store.writtenFormat)
        }
    }
}
