import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// Snapshots (replication-model §7): consistent under load, verified, restored under a
    /// new replica id, merged by sneakernet.
    @Suite struct SnapshotBackups {
        let root = TemporaryDirectory("syncd-snapshots")

        @Test func aSnapshotTakenUnderContinuousWritesHoldsWholeTransactions() async throws {
            let path = root.path("busy.db")
            // Opened before the writer starts: a tight writer loop starves a second writer's busy wait.
            let store = try Store(path: path)
            let size = 200
            let writer = Process()
            writer.executableURL = BuiltProducts.executable("store-crash-helper")
            writer.arguments = [path, ReplicaID.random().hex, "1", "100000", "\(size)"]
            writer.standardOutput = FileHandle.nullDevice
            try writer.run()
            defer {
                kill(writer.processIdentifier, SIGKILL)
                writer.waitUntilExit()
            }
            var sizes: [Int] = []
            for round in 0..<3 {
                // The writer has committed more since the last snapshot.
                let seen = sizes.last ?? 0
                #expect(try await eventually(timeout: .seconds(20)) { (try store.recordCounts()["countries"] ?? 0) > seen + size })
                let url = root.url.appendingPathComponent("busy-\(round).\(Snapshots.fileExtension)")
                let manifest = try Snapshots.create(from: store, to: url)
                #expect(try Snapshots.verify(url) == [])

                // Every batch is one transaction of `size` records: a snapshot holds each whole or not at all.
                let copy = root.url.appendingPathComponent("busy-\(round)-restored")
                try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
                _ = try Snapshots.restore(url, into: DataDirectory(url: copy), deviceID: nil)
                let records = try Store(path: DataDirectory(url: copy).databasePath).recordCounts()["countries"] ?? 0
                #expect(records % size == 0, "round \(round): \(records) records is not whole batches")
                #expect(manifest.records == records)
                sizes.append(records)
            }
            #expect(writer.isRunning, "the writer finished before the snapshots; the test proves nothing")
            #expect(sizes.first! > 0 && sizes.last! > sizes.first!, "\(sizes)")
        }

        @Test func aFlippedByteIsRefusedEverywhere() throws {
            let cli = try Syncctl(in: root, name: "flip"), other = try Syncctl(in: root, name: "other")
            let file = root.path("flip.\(Snapshots.fileExtension)")
            #expect(try cli.run(["snapshot", "create", file]).status == 0)
            #expect(try cli.run(["snapshot", "verify", file]).status == 0)
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
            try handle.seek(toOffset: 20_000)
            let byte = try handle.read(upToCount: 1)![0]
            try handle.seek(toOffset: 20_000)
            try handle.write(contentsOf: Data([byte ^ 0x01]))
            try handle.close()
            let verify = try cli.run(["snapshot", "verify", file])
            #expect(verify.status == 1 && verify.stdout.contains("checksum mismatch"), "\(verify)")
            let before = try other.digest()
            #expect(try other.run(["snapshot", "merge", file]).status == 1)
            #expect(try other.run(["snapshot", "restore", file]).status == 1)
            #expect(try other.digest() == before)
        }

        /// Restore and merge read the snapshot file once: a file replaced
        /// (manifest and all, by another whole snapshot) once they have
        /// verified it changes nothing of what they do; the content they
        /// verified is what lands. Each runs as a real `syncctl` process
        /// held after its verification (`CrashPoint`).
        @Test(arguments: ["merge", "restore"]) func aSnapshotReplacedAfterItWasVerifiedIsNotRead(_ command: String) async throws {
            let cli = try Syncctl(in: root, name: "swap-\(command)"), other = try Syncctl(in: root, name: "swap-other-\(command)")
            let file = root.path("swap-\(command).\(Snapshots.fileExtension)")
            let replacement = root.path("swap-\(command)-replacement.\(Snapshots.fileExtension)")
            #expect(try other.run(["create", "countries/mn", "name=Mongolia", "region=asia"]).status == 0)
            #expect(try other.run(["snapshot", "create", file]).status == 0)
            #expect(try other.run(["set", "countries/cn", "notes=written after the verified snapshot"]).status == 0)
            #expect(try other.run(["snapshot", "create", replacement]).status == 0)
            let pause = root.path("swap-\(command)-paused")
            var environment = ProcessInfo.processInfo.environment
            environment["SYNCD_TEST_PAUSE_AT"] = "\(command).copied"
            environment["SYNCD_TEST_PAUSE_FILE"] = pause
            let process = try StreamingProcess(BuiltProducts.executable("syncctl"), ["snapshot", command, file, "--data-dir", cli.directory.path],
                                               environment: environment)
            #expect(try await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: pause) }, "\(process.errorOutput)")
            // The verified file and its manifest are gone; another whole snapshot took their names.
            for (from, to) in [(replacement, file), (SnapshotManifest.url(for: URL(fileURLWithPath: replacement)).path,
                                                     SnapshotManifest.url(for: URL(fileURLWithPath: file)).path)] {
                try FileManager.default.removeItem(atPath: to)
                try FileManager.default.copyItem(atPath: from, toPath: to)
            }
            try FileManager.default.removeItem(atPath: pause)
            #expect(try await eventually(timeout: .seconds(60)) { process.exitStatus != nil })
            #expect(process.exitStatus == 0, "\(process.output) \(process.errorOutput)")
            // What was verified landed: Mongolia, and not the later note.
            #expect(try cli.store().record(RecordRef(parsing: "countries/mn")!)?.exists == true)
            #expect(try cli.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") != .text("written after the verified snapshot"))
            let left = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path)
            #expect(!left.contains { $0.hasPrefix("data.db.restoring") }, "\(left)")
        }

        @Test func replicasThatNeverMeetConvergeBySneakernet() throws {
            let a = try Syncctl(in: root, name: "a"), b = try Syncctl(in: root, name: "b")
            try a.run(["set", "agreements/green-minerals-initiative", "status=suspended"])
            try b.run(["set", "agreements/green-minerals-initiative", "status=expired"])
            try a.run(["create", "countries/mn", "name=Mongolia", "region=asia"])
            try b.run(["delete", "people/donald-trump"])
            let fromA = root.path("a.\(Snapshots.fileExtension)"), fromB = root.path("b.\(Snapshots.fileExtension)")
            #expect(try a.run(["snapshot", "create", fromA]).status == 0)
            #expect(try b.run(["snapshot", "create", fromB]).status == 0)
            #expect(try a.run(["snapshot", "merge", fromB]).status == 0)
            #expect(try b.run(["snapshot", "merge", fromA]).status == 0)
            #expect(try a.digest() == b.digest())
            #expect(try a.store().conflictCount() == 1)
            #expect(try b.store().record(RecordRef(parsing: "countries/mn")!)?.exists == true)
            #expect(try a.store().record(RecordRef(parsing: "people/donald-trump")!)?.exists == false)
            let again = try a.run(["snapshot", "merge", fromB, "--json"])
            #expect((try again.json() as? [String: Int])?["changed"] == 0, "\(again)")
        }

        @Test func restoreAndRejoin() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            try await a.waitUntilInSync()
            let cliA = Syncctl(existing: a.directory), cliB = Syncctl(existing: b.directory)
            let snapshot = root.path("a-before.\(Snapshots.fileExtension)")
            #expect(try cliA.run(["snapshot", "create", snapshot]).status == 0)
            let oldReplica = try a.store().replicaID

            // After the snapshot: edits and deletes on both sides, synced.
            try cliA.run(["create", "countries/mn", "name=Mongolia", "region=asia"])
            try cliA.run(["set", "countries/cn", "notes=edited on a after the snapshot"])
            try cliA.run(["delete", "people/xi-jinping"])
            try cliB.run(["set", "countries/us", "notes=edited on b after the snapshot"])
            try cliB.run(["delete", "people/donald-trump"])
            #expect(try await eventually { try a.digest() == b.digest() })

            try await a.stop()
            let running = try #require(b.pid)
            let refusedWhileRunning = try cliB.run(["snapshot", "restore", snapshot])
            #expect(refusedWhileRunning.status == 1 && refusedWhileRunning.stderr.contains("syncd (pid \(running)) is running on the data directory"), "\(refusedWhileRunning)")
            let restore = try cliA.run(["snapshot", "restore", snapshot])
            #expect(restore.status == 0, "\(restore)")
            #expect(try a.store().record(RecordRef(parsing: "countries/mn")!) == nil, "the restore did not roll back")
            let names = try FileManager.default.contentsOfDirectory(atPath: a.directory.path)
            #expect(names.contains { $0.hasPrefix(Snapshots.keptAsidePrefix) })
            try await a.start()
            #expect(try await eventually { try a.digest() == b.digest() }, "\(a.log(last: 20))")

            let store = try a.store()
            #expect(try store.replicaID != oldReplica)
            #expect(try store.record(RecordRef(parsing: "countries/mn")!)?.exists == true)
            #expect(try store.record(RecordRef(parsing: "people/xi-jinping")!)?.exists == false, "a delete after the snapshot came back")
            #expect(try store.record(RecordRef(parsing: "people/donald-trump")!)?.exists == false)
            #expect(try store.record(RecordRef(parsing: "countries/cn")!)?.value("notes") == .text("edited on a after the snapshot"))
            #expect(try store.record(RecordRef(parsing: "countries/us")!)?.value("notes") == .text("edited on b after the snapshot"))

            // A write after the restore uses the new replica id, and no dot names two transactions.
            let afterRestore = try cliA.run(["set", "countries/cn", "notes=after the restore"])
            #expect(try await eventually { try b.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") == .text("after the restore") },
                    "\(afterRestore)\n--- a:\n\(a.log(last: 30))\n--- b:\n\(b.log(last: 15))")
            #expect(try store.history(RecordRef(parsing: "countries/cn")!, field: "notes").last?.version.dot.replica == store.replicaID)
            var transactions: [Dot: Set<HLC>] = [:]
            for collection in store.schema.tableCollections {
                for record in try store.list(collection.name) + [] {
                    for entry in try store.history(record.ref) { transactions[entry.version.dot, default: []].insert(entry.version.hlc) }
                }
            }
            #expect(transactions.values.allSatisfy { $0.count == 1 }, "a dot was issued twice")
            #expect(try await eventually { try !FileManager.default.contentsOfDirectory(atPath: a.directory.path).contains { $0.hasPrefix(Snapshots.keptAsidePrefix) } })
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}
