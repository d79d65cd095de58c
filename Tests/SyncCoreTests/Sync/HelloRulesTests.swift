import Testing
@testable import SyncCore

/// The hello checks and the choice between two connections, as pure
/// functions (docs/protocol.md, "A session").
@Suite("Hello rules", .timeLimit(.minutes(3)))
struct HelloRulesTests {
    let device = DeviceID(spki: [1])
    let nonce = [UInt8](repeating: 3, count: ReplicaProof.nonceBytes)

    let shipped = SchemaLineage.shipped

    func hello(_ replica: ReplicaID, major: UInt16 = SyncMessage.protocolMajor, minor: UInt16 = SyncMessage.protocolMinor,
               lineage: String? = SchemaLineage.shipped) -> SyncMessage.Hello {
        .init(protocolMajor: major, protocolMinor: minor, replica: replica, deviceName: "p", schemaHash: "h", willSend: true, willReceive: true, highestSeq: 0,
              lineage: lineage)
    }

    @Test func admissionFollowsVersionIdAndProof() {
        let own = ReplicaID(high: 9, low: 9)
        let theirs = ReplicaProof.replica(device: device, nonce: nonce)
        #expect(HelloRules.admit(hello(theirs), ownReplica: own, proofNonce: nonce, device: device, lineage: shipped) == .bind(proven: true))
        #expect(HelloRules.admit(hello(theirs, minor: 1), ownReplica: own, proofNonce: nil, device: device, lineage: shipped) == .bind(proven: false))
        guard case .refuse(_, false) = HelloRules.admit(hello(theirs, major: 2), ownReplica: own, proofNonce: nonce, device: device, lineage: shipped) else {
            Issue.record("another major was admitted"); return
        }
        guard case .refuse(_, true) = HelloRules.admit(hello(own, minor: 1), ownReplica: own, proofNonce: nil, device: device, lineage: shipped) else {
            Issue.record("our own id was admitted"); return
        }
        for given in [nil, [], [UInt8](repeating: 4, count: 16)] as [[UInt8]?] {
            guard case .refuse(let reason, true) = HelloRules.admit(hello(theirs), ownReplica: own, proofNonce: given, device: device, lineage: shipped) else {
                Issue.record("proof \(String(describing: given)) was admitted"); continue
            }
            #expect(reason.hasPrefix("replica proof failed"))
        }
        #expect(HelloRules.expectsProof(from: hello(theirs)) && !HelloRules.expectsProof(from: hello(theirs, minor: 1)))
    }

    /// Two datasets never sync (docs/schema.md, "Another team's dataset"):
    /// different seed schema names refuse each other, whatever else the hello says.
    @Test func peersOfAnotherLineageAreRefused() {
        let own = ReplicaID(high: 9, low: 9)
        let theirs = ReplicaProof.replica(device: device, nonce: nonce)
        #expect(HelloRules.admit(hello(theirs, lineage: "trade-desk"), ownReplica: own, proofNonce: nonce, device: device, lineage: "trade-desk") == .bind(proven: true))
        guard case .otherDataset(let reason, let other) = HelloRules.admit(hello(theirs, lineage: "trade-desk"), ownReplica: own, proofNonce: nonce,
                                                                          device: device, lineage: shipped) else {
            Issue.record("a peer of another dataset was admitted"); return
        }
        #expect(other == "trade-desk")
        #expect(reason.hasPrefix(HelloRules.lineageRefusalLead))
        #expect(reason.contains("'trade-desk'") && reason.contains("'\(shipped)'"))
        // Refused before the replica checks: not counted as a reused replica id.
        guard case .otherDataset = HelloRules.admit(hello(own, lineage: "trade-desk"), ownReplica: own, proofNonce: nil, device: device, lineage: shipped) else {
            Issue.record("the lineage was not checked first"); return
        }
        // Another major is refused for its version: its hello may mean something else.
        guard case .refuse(_, false) = HelloRules.admit(hello(theirs, major: 2, lineage: "trade-desk"), ownReplica: own, proofNonce: nonce,
                                                        device: device, lineage: shipped) else {
            Issue.record("another major was not refused for its version"); return
        }
    }

    /// A peer older than 1.4 sends no lineage: it holds the shipped dataset.
    @Test func aHelloWithoutLineageIsTheShippedDataset() {
        let own = ReplicaID(high: 9, low: 9)
        let theirs = ReplicaProof.replica(device: device, nonce: nonce)
        let old = hello(theirs, minor: 3, lineage: nil)
        #expect(HelloRules.lineage(of: old) == shipped)
        #expect(HelloRules.admit(old, ownReplica: own, proofNonce: nonce, device: device, lineage: shipped) == .bind(proven: true))
        guard case .otherDataset(_, let other) = HelloRules.admit(old, ownReplica: own, proofNonce: nonce, device: device, lineage: "trade-desk") else {
            Issue.record("an old peer was admitted to another dataset"); return
        }
        #expect(other == shipped)
    }

    /// Names are compared as bytes: "é" composed and decomposed are two
    /// lineages (Swift's == calls them equal), and the refusal says why.
    @Test func lineagesAreComparedAsBytes() throws {
        let composed = "r\u{E9}seau", decomposed = "re\u{301}seau"
        #expect(composed == decomposed)  // what the rule must not rely on
        let reason = try #require(HelloRules.lineageRefusal(theirs: decomposed, ours: composed))
        #expect(reason.contains("look alike"))
        #expect(HelloRules.lineageRefusal(theirs: composed, ours: composed) == nil)
        // Symmetric: each side refuses the other.
        for (a, b) in [(composed, decomposed), ("a", "b"), ("", shipped), ("x", "x")] {
            #expect((HelloRules.lineageRefusal(theirs: a, ours: b) == nil) == (HelloRules.lineageRefusal(theirs: b, ours: a) == nil))
        }
        // A name with a line break or an invisible character cannot forge a log line or hide.
        let sneaky = try #require(HelloRules.lineageRefusal(theirs: "trade\nlevel=critical", ours: "trade\u{200B}"))
        #expect(!sneaky.contains("\n") && sneaky.contains("\\u{A}") && sneaky.contains("\\u{200B}"))
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
