import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// Replica ids a device can prove (replication-model §3.3): derived from the
/// device ID and a nonce, checked after the hellos, and bound for good.
@Suite("Provable replica ids", .timeLimit(.minutes(3)))
struct ReplicaProofTests {
    let deviceA = DeviceID(spki: [1, 2, 3])
    let deviceB = DeviceID(spki: [4, 5, 6])
    let nonce = [UInt8](repeating: 9, count: ReplicaProof.nonceBytes)

    @Test func anIdProvesOnlyForTheDeviceAndNonceThatMadeIt() {
        let replica = ReplicaProof.replica(device: deviceA, nonce: nonce)
        #expect(ReplicaProof.proves(replica: replica, device: deviceA, nonce: nonce))
        #expect(!ReplicaProof.proves(replica: replica, device: deviceB, nonce: nonce))
        #expect(!ReplicaProof.proves(replica: replica, device: deviceA, nonce: [UInt8](repeating: 8, count: ReplicaProof.nonceBytes)))
        #expect(!ReplicaProof.proves(replica: replica, device: deviceA, nonce: Array(nonce.prefix(15))))
        #expect(!ReplicaProof.proves(replica: .random(), device: deviceA, nonce: nonce))
    }

    @Test func theJudgementFollowsTheMinorAndTheProof() {
        let replica = ReplicaProof.replica(device: deviceA, nonce: nonce)
        #expect(ReplicaProof.judge(replica: replica, minor: 1, nonce: nil, device: deviceA) == .unprovable)
        #expect(ReplicaProof.judge(replica: replica, minor: 2, nonce: nonce, device: deviceA) == .proven)
        #expect(ReplicaProof.judge(replica: replica, minor: 3, nonce: nonce, device: deviceA) == .proven)
        for (minor, given, device) in [(UInt16(2), nil, deviceA), (2, nonce, deviceB), (2, [UInt8](), deviceA), (2, nonce + [0], deviceA)] as [(UInt16, [UInt8]?, DeviceID)] {
            guard case .failed = ReplicaProof.judge(replica: replica, minor: minor, nonce: given, device: device) else {
                Issue.record("minor \(minor), nonce \(String(describing: given)) for \(device.short) was not refused")
                continue
            }
        }
    }

    @Test func aStoreMadeByADeviceHoldsAnIdItCanProve() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store(deviceID: deviceA.description)
        let own = try store.replicaIdentity()
        #expect(ReplicaProof.proves(replica: own.replica, device: deviceA, nonce: try #require(own.nonce)))
        // A renewal (a restore, our id seen elsewhere) derives the new id too.
        let renewed = try store.startNewReplica(reason: "test")
        let again = try store.replicaIdentity()
        #expect(again.replica == renewed && renewed != own.replica)
        #expect(ReplicaProof.proves(replica: renewed, device: deviceA, nonce: try #require(again.nonce)))
    }

    @Test func anOlderDatabaseTakesAProvableIdWhenADeviceFirstOpensIt() throws {
        let dir = TemporaryDirectory()
        let legacy = try dir.store().replicaID  // no device: a random id, as every build before 1.2 made
        #expect(try dir.store().replicaIdentity().nonce == nil)
        for readOnly in [true, false] {
            var options = Store.Options()
            options.readOnly = readOnly
            let opened = try dir.store(options: options, deviceID: deviceA.description)
            let own = try opened.replicaIdentity()
            #expect(own.replica != legacy)
            #expect(ReplicaProof.proves(replica: own.replica, device: deviceA, nonce: try #require(own.nonce)))
        }
        // Once provable, reopening keeps it.
        let kept = try dir.store(deviceID: deviceA.description).replicaID
        #expect(try dir.store(deviceID: deviceA.description).replicaID == kept)
        // Another device opening the file (a copy) derives its own.
        let copy = try dir.store(deviceID: deviceB.description).replicaIdentity()
        #expect(ReplicaProof.proves(replica: copy.replica, device: deviceB, nonce: try #require(copy.nonce)))
    }

    @Test func aProvenBindingTakesOverAnUnprovenOneAndNeverGoesBack() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store(deviceID: DeviceID(spki: [7]).description)
        let claimed = ReplicaProof.replica(device: deviceB, nonce: nonce)
        let a = deviceA.description, b = deviceB.description
        // The squatter comes first, without proof: bound, first come.
        #expect(try store.bindPeer(replica: claimed, device: a) == .accepted)
        #expect(try store.bindPeer(replica: claimed, device: a) == .accepted)
        // Another device without proof: refused.
        #expect(try store.bindPeer(replica: claimed, device: b) == .conflicting(recordedDevice: a))
        // The owner proves it: the binding moves.
        #expect(try store.bindPeer(replica: claimed, device: b, proven: true) == .reclaimed(previousDevice: a))
        #expect(try store.knownDevices()[claimed] == b)
        // From then on the squatter is refused, with or without (a false) proof.
        #expect(try store.bindPeer(replica: claimed, device: a) == .conflicting(recordedDevice: b))
        #expect(try store.bindPeer(replica: claimed, device: a, proven: true) == .conflicting(recordedDevice: b))
        // The owner reconnecting, even as an older build, is accepted.
        #expect(try store.bindPeer(replica: claimed, device: b) == .accepted)
        #expect(try store.bindPeer(replica: claimed, device: b, proven: true) == .accepted)
    }
}
