import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// A restore's database kept aside whose merge a full disk stopped is
    /// merged by the running daemon once there is room, with no new session
    /// (replication-model §7; the simulator's seed 1382). A real full disk:
    /// the data directory is a small tmpfs the test mounts (root only).
    @Suite(.enabled(if: SmallDisk.available, "needs root to mount a small tmpfs"))
    struct KeptAsideRetry {
        let root = TemporaryDirectory("syncd-kept-aside")

        @Test func aMergeAFullDiskStoppedIsDoneOnceThereIsRoomWithoutReconnecting() async throws {
            let disk = try #require(SmallDisk(megabytes: 48))
            // a's data directory is on the small disk (its log is not).
            try FileManager.default.createSymbolicLink(at: root.url.appendingPathComponent("a"), withDestinationURL: disk.url)
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            try await a.waitUntilInSync()
            let cliA = Syncctl(existing: a.directory)
            let snapshot = root.path("a-before.\(Snapshots.fileExtension)")
            #expect(try cliA.run(["snapshot", "create", snapshot]).status == 0)

            // Writes b never sees before the restore: about 4 MB, only in
            // the database the restore keeps aside.
            try await b.stop()
            do {
                let store = try a.store()
                let text = String(repeating: "written on a after the snapshot, never synced. ", count: 200)
                for number in 0..<400 { try store.create(RecordRef(parsing: "countries/z\(number)")!, [.set("name", .text("Z\(number)")), .set("notes", .text(text))], author: "a") }
            }
            try await a.stop()
            let restore = try cliA.run(["snapshot", "restore", snapshot])
            #expect(restore.status == 0, "\(restore)")
            #expect(Snapshots.keptAside(in: a.directory).count == 1)

            // Leave 1 MB free: enough to start and sync, not to merge 4 MB.
            let filler = disk.url.appendingPathComponent("filler")
            var info = statvfs()
            #expect(statvfs(disk.url.path, &info) == 0)
            let free = Int(info.f_bavail) * Int(info.f_frsize)
            try Data(count: max(0, free - (1 << 20))).write(to: filler)

            for daemon in [a, b] { try await daemon.start() }
            #expect(try await eventually(timeout: .seconds(30)) { a.log().contains("a database kept aside is still to be merged") }, "\(a.log(last: 30))")
            #expect(Snapshots.keptAside(in: a.directory).count == 1)
            let sessions = a.log().components(separatedBy: "peer connected").count

            try FileManager.default.removeItem(at: filler)
            #expect(try await eventually(timeout: .seconds(60)) { Snapshots.keptAside(in: a.directory).isEmpty }, "\(a.log(last: 30))")
            #expect(try a.store().record(RecordRef(parsing: "countries/z399")!)?.exists == true)
            #expect(a.log().components(separatedBy: "peer connected").count == sessions, "a reconnected meanwhile:\n\(a.log(last: 30))")
            // And the writes it brought back reach b.
            #expect(try await eventually(timeout: .seconds(30)) { try b.store().record(RecordRef(parsing: "countries/z399")!)?.exists == true })
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}
