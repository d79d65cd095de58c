import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// Joining by snapshot between real daemons over TLS (replication-model
    /// §4.6, docs/protocol.md 1.5): a new daemon far behind a peer takes a
    /// checked copy of the peer's database instead of pulling every change,
    /// ends with the peer's digest under a replica id of its own, and then
    /// syncs with a third daemon without either reading anything twice. A
    /// snapshot changed on the way is refused and the ordinary pull follows.
    @Suite struct JoinBySnapshot {
        let root = TemporaryDirectory("syncd-join")
        static let joinSettings = """
            join:
              min_behind_seqs: 500
            """

        /// A daemon holding the seed and `count` more agreements.
        func filledDaemon(_ name: String, count: Int) async throws -> DaemonProcess {
            let daemon = try DaemonProcess(name, in: root)
            try await daemon.start()
            try await daemon.stop()
            let store = try daemon.store()
            for index in 0..<count {
                try store.create(RecordRef(collection: "agreements", id: "\(name)-\(index)"),
                                 [.set("title", .text("Agreement \(index) of \(name)")), .set("status", .text("active"))], author: name)
            }
            return daemon
        }

        @Test func aNewDaemonJoinsBySnapshotAndSyncsOnWithoutReadingTwice() async throws {
            let a = try await filledDaemon("a", count: 1_500)
            let c = try DaemonProcess("c", in: root)
            try connect([(c, a)])
            try await a.start()
            try await c.start()
            try await c.waitUntilInSync()
            _ = try Syncctl(existing: c.directory).run(["create", "agreements/written-on-c", "title=Written on c", "status=negotiating"])
            #expect(try await eventually { try a.store().record(RecordRef(collection: "agreements", id: "written-on-c")) != nil })
            try await c.waitUntilInSync()

            // b starts with nothing but the seed, a peer of a only.
            let b = try DaemonProcess("b", in: root, extraConfig: Self.joinSettings)
            try await b.start()
            let bBefore = try b.store().replicaID
            try await b.setPeersAndWaitForReload([a.asPeer(dial: true)])
            try await a.setPeersAndWaitForReload([c.asPeer(dial: false), b.asPeer(dial: false)])
            #expect(try await eventually(timeout: .seconds(60)) { b.log().contains("joined by snapshot") }, "\(b.log(last: 30))")
            try await b.waitUntilInSync()
            let aStore = try a.store(), bStore = try b.store()
            #expect(try bStore.digest() == aStore.digest())
            let bReplica = try bStore.replicaID
            #expect(bReplica != (try aStore.replicaID) && bReplica != bBefore)
            #expect(try b.status().peers.first?.join?.contains("joined by snapshot from a") == true)
            #expect(try a.status().peers.first { $0.name == "b" }?.join?.contains("sent a snapshot to b") == true)
            // It read almost nothing through the ordinary pull.
            let received = try b.status().peers.first?.slotsReceived ?? 0
            #expect(received < 100, "b pulled \(received) slots after joining")

            // c and b meet: neither reads what the other holds already.
            try await b.setPeersAndWaitForReload([a.asPeer(dial: true), c.asPeer(dial: true)])
            try await c.setPeersAndWaitForReload([a.asPeer(dial: true), b.asPeer(dial: false)])
            // Both sessions up and caught up (on a busy machine the reloads and dials take a while).
            #expect(try await eventually(timeout: .seconds(60)) {
                let bPeers = try b.status().peers, cPeers = try c.status().peers
                return bPeers.contains { $0.name == "c" && $0.state == "connected" && $0.caughtUp }
                    && cPeers.contains { $0.name == "b" && $0.state == "connected" && $0.caughtUp }
            }, "b and c did not meet:\n\(b.log(last: 20))")
            #expect(try await eventually(timeout: .seconds(30)) { c.log().contains("the peer joined by snapshot") })
            let bFromC = try b.status().peers.first { $0.name == "c" }?.slotsReceived
            let cFromB = try c.status().peers.first { $0.name == "b" }?.slotsReceived
            #expect(bFromC == 0 && cFromB == 0, "b read \(bFromC.map(String.init) ?? "nil") slots from c and c \(cFromB.map(String.init) ?? "nil") from b\n\(c.log(last: 20))")

            // b's own write carries its new id, and reaches both.
            _ = try Syncctl(existing: b.directory).run(["create", "agreements/written-on-b", "title=Written on b", "status=active"])
            let written = RecordRef(collection: "agreements", id: "written-on-b")
            #expect(try await eventually { try a.store().record(written) != nil && c.store().record(written) != nil })
            let dots = try bStore.history(written).map(\.version.dot.replica)
            #expect(!dots.isEmpty && dots.allSatisfy { $0 == bReplica })
            try await a.waitUntilInSync()
            #expect(try await eventually { try a.digest() == b.digest() && c.digest() == b.digest() })
            // The database b held before is merged back and gone, companions and all.
            #expect(try await eventually { try FileManager.default.contentsOfDirectory(atPath: b.directory.path).allSatisfy { !$0.hasPrefix(Snapshots.keptAsidePrefix) } },
                    "\((try? FileManager.default.contentsOfDirectory(atPath: b.directory.path)) ?? [])")
            #expect(!b.log().contains("could not merge"))
            for daemon in [a, b, c] { try await daemon.stop() }
        }

        @Test func aSnapshotChangedOnTheWayIsRefusedAndPulledInstead() async throws {
            let a = try await filledDaemon("fa", count: 800)
            a.extraEnvironment = ["SYNCD_TEST_FLIP_SNAPSHOT_BYTE": "40000"]
            try await a.start()
            let b = try DaemonProcess("fb", in: root, extraConfig: Self.joinSettings)
            try await b.start()
            try await b.setPeersAndWaitForReload([a.asPeer(dial: true)])
            try await a.setPeersAndWaitForReload([b.asPeer(dial: false)])
            #expect(try await eventually(timeout: .seconds(60)) { b.log().contains("refused the join snapshot") }, "\(b.log(last: 30))")
            #expect(b.log().contains("checksum does not match"))
            try await b.waitUntilInSync()
            #expect(try b.digest() == a.digest())
            #expect(!b.log().contains("joined by snapshot"))
            #expect(try b.status().peers.first?.join?.contains("snapshot refused") == true)
            // It pulled every change instead.
            #expect((try b.status().peers.first?.slotsReceived ?? 0) > 800)
            for daemon in [a, b] { try await daemon.stop() }
        }

        /// A daemon `name`-a with 800 agreements, and `name`-b joining it
        /// with the test hooks `environment`, which make it fail to write
        /// the snapshot: b refuses it, pulls instead and ends equal to a,
        /// under its own replica id, never having joined.
        func joinerThatCannotWrite(_ name: String, environment: [String: String]) async throws -> (a: DaemonProcess, b: DaemonProcess) {
            let a = try await filledDaemon("\(name)-a", count: 800)
            try await a.start()
            let b = try DaemonProcess("\(name)-b", in: root, extraConfig: Self.joinSettings)
            b.extraEnvironment = environment
            try await b.start()
            let before = try b.store().replicaID
            try await b.setPeersAndWaitForReload([a.asPeer(dial: true)])
            try await a.setPeersAndWaitForReload([b.asPeer(dial: false)])
            #expect(try await eventually(timeout: .seconds(60)) { b.log().contains("refused the join snapshot") }, "\(b.log(last: 30))")
            #expect(b.log().contains("cannot write the snapshot here"), "\(b.log(last: 30))")
            try await b.waitUntilInSync()
            #expect(try b.digest() == a.digest())
            #expect(!b.log().contains("joined by snapshot"))
            #expect(try b.store().replicaID == before)
            #expect((try b.status().peers.first?.slotsReceived ?? 0) > 800)
            return (a, b)
        }

        /// A joiner that cannot write the snapshot midway (its disk filled
        /// under it) refuses it and pulls instead; the chunks its peer was
        /// still sending are read and dropped, so neither side takes the
        /// other for a protocol breaker.
        @Test func aJoinerThatCannotWriteMidwayPullsInsteadAndBlamesNoOne() async throws {
            // 64 KiB chunks, two asked ahead; writes fail past 256 KiB (chunk 5, one pull in flight).
            let (a, b) = try await joinerThatCannotWrite("w", environment: ["SYNCD_TEST_JOIN_CHUNK_BYTES": "65536",
                                                                            "SYNCD_TEST_SNAPSHOT_WRITES_FAIL_PAST": "262144"])
            for (daemon, other) in [(a, "b"), (b, "a")] {
                #expect(try daemon.status().protocolViolations == 0, "\(other) was taken for a protocol breaker:\n\(daemon.log(last: 30))")
                #expect(!daemon.log().contains("protocol violation"), "\(daemon.log(last: 30))")
            }
            for daemon in [a, b] { try await daemon.stop() }
        }

        /// The received file goes to the disk while it is checked; a sync
        /// that fails (a full thin volume, an I/O error) refuses the
        /// snapshot although the check passed: nothing is adopted, the
        /// ordinary pull follows.
        @Test func aSnapshotThatCannotReachTheDiskIsRefusedAfterItsCheck() async throws {
            let (a, b) = try await joinerThatCannotWrite("s", environment: ["SYNCD_TEST_SNAPSHOT_SYNC_FAILS": "1"])
            for daemon in [a, b] { try await daemon.stop() }
        }

        /// A joiner killed (SIGKILL) with the file received, with its database
        /// kept aside, with that copy named just before the swap's commit, and
        /// right after the swap: started again it ends equal to the peer, its
        /// offline write is on both, and nothing is left behind.
        /// `join.adopted, name lost`: killed after the swap, then the copy
        /// given its staging name back, as a power cut that kept the commit
        /// and lost the rename would leave it.
        @Test(arguments: ["join.received", "join.keptAside", "join.named", "join.adopted", "join.adopted, name lost"])
        func aJoinerKilledAtAnyStepLosesNothing(_ step: String) async throws {
            let point = String(step.prefix { $0 != "," })
            let a = try await filledDaemon("k-\(point)-a", count: 800)
            try await a.start()
            let b = try DaemonProcess("k-\(point)-b", in: root, extraConfig: Self.joinSettings)
            try await b.start()
            try await b.stop()
            let marker = RecordRef(collection: "agreements", id: "written-offline")
            try b.store().create(marker, [.set("title", .text("Offline")), .set("status", .text("proposed"))], author: "b")
            try b.setPeers([a.asPeer(dial: true)])
            try await a.setPeersAndWaitForReload([b.asPeer(dial: false)])
            b.extraEnvironment = ["SYNCD_TEST_CRASH_AT": point]
            try await b.start()
            #expect(try await eventually(timeout: .seconds(60)) { !b.isRunning }, "\(point): b was not killed\n\(b.log(last: 20))")
            if step.hasSuffix("name lost") {
                let aside = try FileManager.default.contentsOfDirectory(atPath: b.directory.path).filter { $0.hasPrefix(Snapshots.keptAsidePrefix) }
                try #require(aside.count == 1, "\(aside)")
                try FileManager.default.moveItem(at: b.directory.appendingPathComponent(aside[0]),
                                                  to: b.directory.appendingPathComponent("joining-aside-\(UUID().uuidString)"))
            }
            b.extraEnvironment = [:]
            try await b.start()
            try await b.waitUntilInSync(timeout: .seconds(60))
            #expect(try await eventually(timeout: .seconds(30)) { try a.store().record(marker)?.exists == true }, "\(point): the offline write was lost\n\(b.log(last: 30))")
            #expect(try await eventually(timeout: .seconds(30)) { try a.digest() == b.digest() })
            #expect(try b.store().replicaID != a.store().replicaID)
            #expect(try await eventually(timeout: .seconds(30)) {
                try FileManager.default.contentsOfDirectory(atPath: b.directory.path).allSatisfy { !$0.hasPrefix("joining-") && !$0.hasPrefix(Snapshots.keptAsidePrefix) }
            }, "\(point): \((try? FileManager.default.contentsOfDirectory(atPath: b.directory.path)) ?? [])")
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}
