import Testing
@testable import SyncCore

/// The hello checks and the choice between two connections, as pure
/// functions (docs/protocol.md, "A session").
@Suite("Hello rules", .timeLimit(.minutes(3)))
struct HelloRulesTests {
    let device = DeviceID(spki: [1])
    let nonce = [UInt8](repeating: 3, count: ReplicaProof.nonceBytes)

    func hello(_ replica: ReplicaID, major: UInt16 = SyncMessage.protocolMajor, minor: UInt16 = SyncMessage.protocolMinor) -> SyncMessage.Hello {
        .init(protocolMajor: major, protocolMinor: minor, replica: replica, deviceName: "p", schemaHash: "h", willSend: true, willReceive: true, highestSeq: 0)
    }

    @Test func admissionFollowsVersionIdAndProof() {
        let own = ReplicaID(high: 9, low: 9)
        let theirs = ReplicaProof.replica(device: device, nonce: nonce)
        #expect(HelloRules.admit(hello(theirs), ownReplica: own, proofNonce: nonce, device: device) == .bind(proven: true))
        #expect(HelloRules.admit(hello(theirs, minor: 1), ownReplica: own, proofNonce: nil, device: device) == .bind(proven: false))
        guard case .refuse(_, false) = HelloRules.admit(hello(theirs, major: 2), ownReplica: own, proofNonce: nonce, device: device) else {
            Issue.record("another major was admitted"); return
        }
        guard case .refuse(_, true) = HelloRules.admit(hello(own, minor: 1), ownReplica: own, proofNonce: nil, device: device) else {
            Issue.record("our own id was admitted"); return
        }
        for given in [nil, [], [UInt8](repeating: 4, count: 16)] as [[UInt8]?] {
            guard case .refuse(let reason, true) = HelloRules.admit(hello(theirs), ownReplica: own, proofNonce: given, device: device) else {
                Issue.record("proof \(String(describing: given)) was admitted"); continue
            }
            #expect(reason.hasPrefix("replica proof failed"))
        }
        #expect(HelloRules.expectsProof(from: hello(theirs)) && !HelloRules.expectsProof(from: hello(theirs, minor: 1)))
    }

    @Test func bindingVerdicts() {
        let replica = ReplicaID(high: 1, low: 2)
        #expect(HelloRules.verdict(on: .accepted, replica: replica, device: device) == .accept)
        #expect(HelloRules.verdict(on: .reclaimed(previousDevice: "X"), replica: replica, device: device) == .acceptTakingBack(previousDevice: "X"))
        for binding in [PeerBinding.ours, .conflicting(recordedDevice: "Y")] {
            guard case .refuse = HelloRules.verdict(on: binding, replica: replica, device: device) else {
                Issue.record("\(binding) was accepted"); continue
            }
        }
    }

    /// Both ends must pick the same connection, as every earlier build did:
    /// the one dialed by the device whose printed ID sorts first.
    @Test func bothEndsKeepTheSameConnection() {
        let ids = (0..<40).map { DeviceID(spki: [UInt8($0)]) }
        for a in ids {
            for b in ids where a != b {
                let aFirst = HelloRules.replaces(existingDialedBy: b, newDialedBy: a)
                let bFirst = HelloRules.replaces(existingDialedBy: a, newDialedBy: b)
                #expect(aFirst != bFirst)
                #expect(aFirst == (a.description < b.description))
            }
            #expect(!HelloRules.replaces(existingDialedBy: a, newDialedBy: a))
        }
    }
}
