import Foundation
import NIOCore
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// An authenticated peer that misbehaves on purpose (replication-model
    /// §2.5, operations "Limits"). Each time the daemon under attack stays
    /// up, keeps its peak memory under `rssBound`, logs and counts what it
    /// refused, and keeps syncing with its honest peer.
    @Suite(.timeLimit(.minutes(5))) struct HostilePeer {
        let root = TemporaryDirectory("syncd-hostile")
        /// Peak resident memory allowed to the daemon under attack.
        static let rssBoundKiB = 200 * 1_024

        /// b under attack, a its honest peer, and the prober's identity, which b lists as a peer.
        func setUp(extraConfig: String = "", proberMode: PeerMode = .sendReceive) async throws -> (a: DaemonProcess, b: DaemonProcess, prober: DeviceIdentity) {
            let pair = try await ProbedPair.start(in: root, extraConfig: extraConfig, proberMode: proberMode)
            return (pair.a, pair.b, pair.prober)
        }

        /// Connects as the prober and introduces itself: with its own,
        /// proven replica id, or (given `replica`) claiming that id with a
        /// protocol 1.1 hello, which proves nothing.
        func session(_ b: DaemonProcess, _ prober: DeviceIdentity, replica: ReplicaID? = nil, sends: Bool, receives: Bool) async throws -> RawPeer {
            let peer = try await RawPeer.connect(port: b.port, identity: prober)
            if let replica {
                try await peer.introduceUnproven(replica: replica, sends: sends, receives: receives)
            } else {
                try await peer.introduce(as: prober, sends: sends, receives: receives)
            }
            return peer
        }

        /// Answers b's first pull with `changes` as one batch.
        func answerPull(_ peer: RawPeer, with changes: [SlotChange], cursor: UInt64 = 1) async throws {
            while let message = try await peer.nextMessage() {
                if case .pull = message {
                    try await peer.send(.batch(.init(changes: changes, cursor: cursor, hasMore: false, highestSeq: cursor, tabled: true)))
                    return
                }
            }
        }

        /// Waits for b's next pull (other messages skipped): false if none comes.
        func nextPull(_ peer: RawPeer) async throws -> Bool {
            while let message = try await peer.nextMessage() {
                if case .pull = message { return true }
            }
            return false
        }

        /// The honest pair still syncs, and b's peak memory stayed under the bound.
        func expectHealthy(_ a: DaemonProcess, _ b: DaemonProcess, _ label: String) async throws {
            #expect(b.isRunning, "b died: \(b.log(last: 20))")
            let ref = RecordRef(parsing: "countries/cn")!
            try a.store().update(ref, [.set("notes", .text("after \(label)"))], author: "a")
            #expect(try await eventually(timeout: .seconds(15)) { try b.store().record(ref)?.value("notes") == .text("after \(label)") },
                    "honest sync stopped:\n\(b.log(last: 20))")
            let peak = try #require(Self.peakRSSKiB(of: b))
            #expect(peak < Self.rssBoundKiB, "b peaked at \(peak / 1_024) MiB")
            print("hostile-peer \(label): b peak RSS \(peak / 1_024) MiB (bound \(Self.rssBoundKiB / 1_024) MiB)")
        }

        static func peakRSSKiB(of daemon: DaemonProcess) -> Int? {
            guard let pid = daemon.pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
            return line.flatMap { Int($0.split(whereSeparator: \.isWhitespace)[1]) }
        }

        private func state(_ replica: ReplicaID, _ counter: UInt64, _ value: Value = .text("x")) -> SlotState {
            SlotState(versions: [Version(dot: Dot(replica: replica, counter: counter), hlc: HLC(millis: 1_000, logical: 0), author: "mallory", value: value)],
                      context: VersionContext([(replica, counter)]))
        }

        private let slot = SlotKey(collection: "countries", record: "cn", field: "notes")

        @Test func pullsWithoutReadingAreCutOffNotBuffered() async throws {
            let (a, b, prober) = try await setUp()
            let peer = try await session(b, prober, sends: false, receives: true)
            _ = try await peer.nextMessage()  // hello
            try await peer.channel.setOption(ChannelOptions.autoRead, value: false).get()
            for _ in 0..<500 { try await peer.send(.pull(cursor: 0, maxCount: 100_000, maxBytes: 64 << 20, wait: false)) }
            #expect(try await eventually(timeout: .seconds(20)) { b.log().contains("the peer broke the protocol") },
                    "flood not cut off:\n\(b.log(last: 15))")
            #expect(try b.status().protocolViolations ?? 0 >= 1)
            peer.close()
            try await expectHealthy(a, b, "pull flood")
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func countersTheStoreCannotHoldAreRefusedAndCounted() async throws {
            let (a, b, prober) = try await setUp()
            let peer = try await session(b, prober, sends: true, receives: false)
            try await answerPull(peer, with: [SlotChange(key: slot, state: state(.random(), 1 << 63))])
            #expect(try await eventually(timeout: .seconds(10)) { b.log().contains("refused a batch from the peer") }, "\(b.log(last: 15))")
            #expect(try b.status().refusedBatches == 1)
            #expect(try b.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") != .text("x"))
            peer.close()
            try await expectHealthy(a, b, "counter 2^63")
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func ourOwnIdWithAHighCounterRenewsOurIdAndLosesNoLaterWrite() async throws {
            let (a, b, prober) = try await setUp()
            let own = try b.store().replicaID
            let peer = try await session(b, prober, sends: true, receives: false)
            let lie = SlotChange(key: SlotKey(collection: "countries", record: "zz", field: "notes"),
                                 state: SlotState(versions: [], context: VersionContext([(own, 1_000_000)])))
            try await answerPull(peer, with: [lie])
            #expect(try await eventually(timeout: .seconds(10)) { try b.store().replicaID != own }, "\(b.log(last: 15))")
            #expect(try await eventually(timeout: .seconds(5)) { b.log().contains("took a new replica id") })
            peer.close()
            // b's next local write (as `syncctl set` makes it) reaches a.
            let ref = RecordRef(parsing: "countries/us")!
            try b.store().update(ref, [.set("notes", .text("written after the lie"))], author: "b")
            #expect(try await eventually(timeout: .seconds(15)) { try a.store().record(ref)?.value("notes") == .text("written after the lie") })
            try await expectHealthy(a, b, "own id with a high counter")
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func oversizedTextIsRefused() async throws {
            let (a, b, prober) = try await setUp()
            let peer = try await session(b, prober, sends: true, receives: false)
            let big = String(repeating: "m", count: (1 << 20) + 1)
            try await answerPull(peer, with: [SlotChange(key: slot, state: state(.random(), 1, .text(big)))])
            #expect(try await eventually(timeout: .seconds(10)) { b.log().contains("text value of 1048577 bytes") }, "\(b.log(last: 15))")
            peer.close()
            try await expectHealthy(a, b, "oversized text")
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func aReplayedBatchAppliesOnce() async throws {
            let (a, b, prober) = try await setUp()
            let writer = ReplicaID.random()
            let change = SlotChange(key: SlotKey(collection: "countries", record: "cn", field: "region"), state: state(writer, 1, .text("asia")))
            for round in 0..<5 {
                let peer = try await session(b, prober, replica: writer, sends: true, receives: false)
                try await answerPull(peer, with: [change], cursor: 1)
                // b asks for the next batch once this one is merged.
                #expect(try await nextPull(peer), "round \(round): b never asked again:\n\(b.log(last: 15))")
                peer.close()
                if round == 0 { #expect(try await eventually(timeout: .seconds(10)) { try b.store().slotState(change.key).versions.contains { $0.dot.replica == writer } }) }
            }
            let history = try b.store().history(RecordRef(parsing: "countries/cn")!, field: "region")
            #expect(history.filter { $0.version.dot.replica == writer }.count == 1)
            try await expectHealthy(a, b, "replayed batch")
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func anotherDevicesReplicaIdAndOurOwnAreRefused() async throws {
            let (a, b, prober) = try await setUp()
            for claimed in [try a.store().replicaID, try b.store().replicaID] {
                let peer = try await session(b, prober, replica: claimed, sends: true, receives: true)
                #expect(try await peer.waitUntilClosed(timeout: .seconds(5)))
            }
            #expect(try b.status().refusedReplicas == 2)
            try await expectHealthy(a, b, "claimed replica ids")
            for daemon in [a, b] { try await daemon.stop() }
        }

        /// Squatting (replication-model §3.3): the prober claims c's replica
        /// id with a 1.1 hello before c ever connects. When c connects and
        /// proves the id, the binding moves to c, c syncs, and the prober's
        /// next claim is refused.
        @Test func aSquattedReplicaIdGoesToTheDeviceThatProvesIt() async throws {
            let (a, b, prober) = try await setUp()
            let c = try DaemonProcess("c", in: root)
            // The id c's daemon will present: derived from its device when the store is made.
            let cReplica = try Store(path: c.directory.appendingPathComponent("data.db").path, deviceID: c.deviceID.description).replicaID
            let squat = try await session(b, prober, replica: cReplica, sends: false, receives: false)
            guard case .hello = try await squat.nextMessage() else {
                Issue.record("the squatter was not let in, so this test shows nothing:\n\(b.log(last: 20))")
                return
            }
            squat.close()

            try await c.start()
            #expect(try c.store().replicaID == cReplica)
            var peers = try PeerListEditor(path: b.configPath, defaults: .machineDefaults()).load().peers
            peers.append(c.asPeer(dial: false))
            try b.setPeers(peers)
            try c.setPeers([b.asPeer()])
            try await c.waitUntilInSync()
            #expect(b.log().contains("this device proved it, so the binding moves"), "\(b.log(last: 20))")
            let ref = RecordRef(parsing: "countries/cn")!
            try c.store().update(ref, [.set("notes", .text("from c"))], author: "c")
            #expect(try await eventually(timeout: .seconds(15)) { try b.store().record(ref)?.value("notes") == .text("from c") })

            let again = try await session(b, prober, replica: cReplica, sends: false, receives: false)
            #expect(try await again.waitUntilClosed(timeout: .seconds(5)))
            #expect(try await eventually(timeout: .seconds(5)) { b.log().contains("was seen before with device") })
            // A wrong proof from a peer that speaks 1.2 is refused as well.
            let liar = try await RawPeer.connect(port: b.port, identity: prober)
            try await liar.send(.hello(.init(replica: cReplica, deviceName: "prober", schemaHash: "test", willSend: false, willReceive: false, highestSeq: 0)))
            try await liar.send(.replicaProof(nonce: [UInt8](repeating: 7, count: ReplicaProof.nonceBytes)))
            #expect(try await liar.waitUntilClosed(timeout: .seconds(5)))
            #expect(try await eventually(timeout: .seconds(5)) { b.log().contains("replica proof failed") }, "\(b.log(last: 10))")
            #expect(try b.status().refusedReplicas == 3)
            try await expectHealthy(a, b, "squatted replica id")
            for daemon in [a, b, c] { try await daemon.stop() }
        }

        @Test func aTrickledFrameIsCutOffAtTheDeadline() async throws {
            let (a, b, prober) = try await setUp(extraConfig: "frame_timeout_seconds: 2")
            let peer = try await session(b, prober, sends: false, receives: false)
            _ = try await peer.nextMessage()
            let frame = RawPeer.lengthPrefix(200) + [UInt8](repeating: 8, count: 200)
            var closed = false
            for byte in frame {
                // Faster than the idle timeout (5 s in tests), slower than the frame deadline.
                try? await peer.send([byte])
                try await Task.sleep(for: .milliseconds(250))
                if peer.inbox.isClosed { closed = true; break }
            }
            #expect(closed)
            #expect(try await eventually(timeout: .seconds(5)) { b.log().contains("did not arrive whole") }, "\(b.log(last: 10))")
            try await expectHealthy(a, b, "trickled frame")
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func manyConnectionsHoldingHugePartialFramesAreRefusedBeforeTheyCost() async throws {
            let (a, b, prober) = try await setUp()
            var peers: [RawPeer] = []
            for _ in 0..<48 {
                let peer = try await RawPeer.connect(port: b.port, identity: prober)
                // A first frame one byte short of 16 MiB, before any hello.
                try await peer.send(RawPeer.lengthPrefix((16 << 20) - 1) + [UInt8](repeating: 1, count: 60_000))
                peers.append(peer)
            }
            for peer in peers { #expect(try await peer.waitUntilClosed(timeout: .seconds(5))) }
            #expect(try await eventually(timeout: .seconds(5)) { b.log().contains("exceeds the 65536-byte limit") })
            try await expectHealthy(a, b, "48 huge partial frames")
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func aHugeGoodbyeIsCutBeforeItIsKept() async throws {
            let (a, b, prober) = try await setUp()
            let peer = try await session(b, prober, sends: false, receives: false)
            _ = try await peer.nextMessage()
            try await peer.send(.goodbye(reason: String(repeating: "g", count: 12 << 20)))
            #expect(try await peer.waitUntilClosed(timeout: .seconds(10)))
            let started = ContinuousClock.now
            let status = try b.status()
            #expect(ContinuousClock.now - started < .seconds(2))
            let kept = status.peers.first { $0.name == "prober" }?.lastError ?? ""
            #expect(kept.utf8.count < 1_000, "kept \(kept.utf8.count) bytes")
            #expect(b.log().utf8.count < 1 << 20)
            try await expectHealthy(a, b, "12 MiB goodbye")
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func aRepairRequestForEveryBucketIsAViolation() async throws {
            let (a, b, prober) = try await setUp()
            let peer = try await session(b, prober, sends: false, receives: true)
            _ = try await peer.nextMessage()
            try await peer.send(.repairRequest(buckets: (0...255).map { UInt8($0) }))
            #expect(try await eventually(timeout: .seconds(10)) { b.log().contains("repair request for 256 buckets") }, "\(b.log(last: 10))")
            peer.close()
            try await expectHealthy(a, b, "repair of every bucket")
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func aPeerWeDoNotSendToGetsNoDigestOfOurs() async throws {
            let (a, b, prober) = try await setUp(proberMode: .receiveOnly)
            let peer = try await session(b, prober, sends: true, receives: true)
            _ = try await peer.nextMessage()
            try await peer.send(.digestRequest(highestSeq: 0))
            var answer: SyncMessage.DigestReport?
            while let message = try await peer.nextMessage(timeout: .seconds(5)) {
                if case .digest(let report) = message { answer = report; break }
            }
            let report = try #require(answer, "no answer at all")
            #expect(report.buckets.isEmpty && !report.caughtUp)
            peer.close()
            for daemon in [a, b] { try await daemon.stop() }
        }

        @Test func ourPullsAskForBatchesThatFitOurFrames() async throws {
            let (a, b, prober) = try await setUp(extraConfig: "max_frame_bytes: 10485760\nbatch: {max_bytes: 67108864}")
            let peer = try await session(b, prober, sends: true, receives: false)
            var asked: UInt32?
            while let message = try await peer.nextMessage() {
                if case .pull(_, _, let maxBytes, _) = message { asked = maxBytes; break }
            }
            #expect(try #require(asked) <= 5 << 20)
            peer.close()
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}
