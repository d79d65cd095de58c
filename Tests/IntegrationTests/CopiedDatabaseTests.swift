import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// The scenario as a new user would run it: a database copied
    /// into another data directory and written there by `syncctl` before
    /// its daemon ever ran (replication-model §3.3).
    @Suite struct CopiedDatabase {
        let root = TemporaryDirectory("syncd-it")
        let record = "agreements/green-minerals-initiative"

        /// `syncctl init` one and two, a `set` in one, then one's data.db copied over two's.
        func copiedPair() throws -> (one: Syncctl, two: Syncctl, target: String) {
            let one = try Syncctl(in: root, name: "one"), two = try Syncctl(in: root, name: "two")
            #expect(try one.run(["set", record, "status=negotiating"]).status == 0)
            let target = two.directory.appendingPathComponent("data.db").path
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: target + suffix) }
            try FileManager.default.copyItem(atPath: one.directory.appendingPathComponent("data.db").path, toPath: target)
            return (one, two, target)
        }

        @Test func aCopiedDatabaseWrittenBySyncctlFirstConverges() async throws {
            let (one, two, _) = try copiedPair()
            let onTwo = try two.run(["set", record, "status=expired"])
            #expect(onTwo.status == 0, "\(onTwo)")
            #expect(try one.run(["set", record, "status=active"]).status == 0)
            #expect(try one.store().replicaID != two.store().replicaID)

            let a = try DaemonProcess(existing: "one", directory: one.directory)
            let b = try DaemonProcess(existing: "two", directory: two.directory)
            try await a.start()
            try await b.start()
            try connect([(a, b)])
            #expect(try await eventually(timeout: .seconds(20)) { try a.digest() == b.digest() },
                    "digests differ:\n\(a.log(last: 15))\n\(b.log(last: 15))")
            for daemon in [a, b] {
                let conflicts = try daemon.store().conflicts(in: "agreements", record: "green-minerals-initiative")
                #expect(conflicts.map(\.key.field) == ["status"], "on \(daemon.name)")
                #expect(Set(conflicts.first?.siblings.map(\.value) ?? []) == [.text("expired"), .text("active")], "on \(daemon.name)")
                #expect(try daemon.store().dotCollisions().isEmpty, "on \(daemon.name)")
            }
            try await a.stop()
            try await b.stop()
        }

        /// The same copy made invisible to the detection (as a build without
        /// it would leave it): both databases then issue the same dot with
        /// different values. The merge still ends equal on both, and the
        /// collision is reported, not hidden.
        @Test func twoDatabasesIssuingOneDotEndEqualAndReportIt() async throws {
            let (one, two, target) = try copiedPair()
            // The device key copied along (the whole data directory), and the
            // copy's own file recorded, so it keeps one's replica id: with a
            // key of its own it would not (its id would not be provable).
            for file in [DeviceIdentity.keyFile, DeviceIdentity.certificateFile] {
                let destination = two.directory.appendingPathComponent(file)
                try FileManager.default.removeItem(at: destination)
                try FileManager.default.copyItem(at: one.directory.appendingPathComponent(file), to: destination)
            }
            let attributes = try FileManager.default.attributesOfItem(atPath: target)
            let identity = "\((attributes[.systemNumber] as! NSNumber).uint64Value):\((attributes[.systemFileNumber] as! NSNumber).uint64Value)"
            try DatabaseAccess.setMeta(["file_identity": identity], in: target)
            #expect(try two.run(["set", record, "status=expired"]).status == 0)
            #expect(try one.run(["set", record, "status=active"]).status == 0)
            #expect(try one.store().replicaID == two.store().replicaID)

            // A daemon refuses a second device presenting a replica id it saw
            // with another (replication-model §3.3), so each copy has its own
            // relay: one ⇄ r1 ⇄ r2 ⇄ two.
            let a = try DaemonProcess(existing: "one", directory: one.directory)
            let b = try DaemonProcess(existing: "two", directory: two.directory)
            let r1 = try DaemonProcess("r1", in: root), r2 = try DaemonProcess("r2", in: root)
            for daemon in [a, b, r1, r2] { try await daemon.start() }
            try connect([(a, r1), (r1, r2), (b, r2)])
            #expect(try await eventually(timeout: .seconds(30)) { try a.digest() == b.digest() && b.digest() == r1.digest() && r1.digest() == r2.digest() },
                    "digests differ:\n\(a.log(last: 15))\n\(b.log(last: 15))\n\(r1.log(last: 15))")
            let relay = r1
            let values = try [a, b, relay].map { try $0.store().record(RecordRef(parsing: record)!)?.value("status") }
            #expect(values[0] == values[1] && values[1] == values[2])
            // The copy whose value lost receives the other content under its
            // own dot: it records the collision (so does the relay that first
            // held both), and `check` reports it.
            let loser = values[0] == .text("active") ? two : one
            // Two slots collide: status, and _exists (every edit writes it).
            #expect(try await eventually(timeout: .seconds(10)) { try Set(loser.store().dotCollisions().map(\.key.field)) == ["status", "_exists"] })
            let check = try loser.run(["check"])
            #expect(check.status == 1)
            #expect(check.stdout.contains("dots held with two contents: 2"), "\(check)")
            #expect(check.stdout.contains("a copied database?"), "\(check)")
            for daemon in [a, b, r1, r2] { try await daemon.stop() }
        }
    }
}
