import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

@Suite("A full disk (replication-model §4.2: nothing lost, nothing applied twice)", .serialized, .timeLimit(.minutes(5)),
       .enabled(if: SmallDisk.available, "needs root to mount a small tmpfs"))
struct DiskFullTests {
    /// A batch of `count` slots, each with a text value of `size` bytes, from one peer.
    func bigBatch(count: Int, size: Int, writer: ReplicaID) -> [SlotChange] {
        (0..<count).map { index in
            let version = Version(dot: Dot(replica: writer, counter: UInt64(index + 1)), hlc: HLC(millis: 1_000 + UInt64(index), logical: 0),
                                  author: "peer", value: .text(String(repeating: "x", count: size)))
            return SlotChange(key: SlotKey(collection: "countries", record: "c\(index)", field: "notes"),
                              state: SlotState(versions: [version], context: VersionContext([(writer, UInt64(index + 1))])))
        }
    }

    @Test func aLargeApplyOnAFullDiskChangesNothingAndSucceedsOnceThereIsRoom() throws {
        let disk = try #require(SmallDisk(megabytes: 6))
        let store = try Store(path: disk.url.appendingPathComponent("data.db").path)
        try store.seed(SeedData.criticalMinerals())
        let digest = try store.digest()
        let seq = try store.highestSeq()
        let peer = ReplicaID.random()
        let batch = bigBatch(count: 400, size: 32_000, writer: peer)  // ~13 MB: more than the disk holds
        #expect(throws: (any Error).self) { try store.apply(batch, from: peer, cursor: 400) }
        #expect(try store.digest() == digest)
        #expect(try store.highestSeq() == seq)
        #expect(try store.cursor(for: peer) == 0)
        #expect(try store.read { try String.fetchOne($0, sql: "PRAGMA integrity_check") } == "ok")
        // A local write still fails cleanly while full, then the fault goes away.
        #expect(disk.grow(to: 64))
        let report = try store.apply(batch, from: peer, cursor: 400)
        #expect(report.changed == 400)
        #expect(try store.cursor(for: peer) == 400)
        // Applying it again (a retried pull) changes nothing.
        #expect(try store.apply(batch, from: peer, cursor: 400).changed == 0)
    }

    @Test func aSnapshotOnAFullDiskLeavesNoHalfSnapshot() throws {
        let data = TemporaryDirectory()
        let store = try data.store()
        try store.seed(SeedData.criticalMinerals())
        try store.apply(bigBatch(count: 100, size: 20_000, writer: .random()), from: nil)  // ~2 MB
        let disk = try #require(SmallDisk(megabytes: 1))
        let destination = disk.url.appendingPathComponent("s.syncsnap")
        #expect(throws: (any Error).self) { try Snapshots.create(from: store, to: destination) }
        let left = try FileManager.default.contentsOfDirectory(atPath: disk.url.path)
        #expect(left.isEmpty, "left behind: \(left)")
        #expect(disk.grow(to: 64))
        try Snapshots.create(from: store, to: destination)
        #expect(try Snapshots.verify(destination) == [])
    }

    /// A used snapshot waiting in join-trash is room a thread is freeing:
    /// the free-space checks of a join count it (else a join right after
    /// another is refused and the peer is not asked again for an hour).
    @Test func freeSpaceCountsTheUsedSnapshotsBeingRemoved() throws {
        let disk = try #require(SmallDisk(megabytes: 16))
        let trash = disk.url.appendingPathComponent(Store.joinTrashFolder)
        let plain = try #require(SyncNode.freeBytes(at: disk.url.path, countingTrash: trash))
        try FileManager.default.createDirectory(at: trash, withIntermediateDirectories: true)
        try Data(repeating: 7, count: 8 << 20).write(to: trash.appendingPathComponent("used.syncsnap"))
        try FileManager.default.createDirectory(at: trash.appendingPathComponent("a-folder"), withIntermediateDirectories: true)
        let counted = try #require(SyncNode.freeBytes(at: disk.url.path, countingTrash: trash))
        // The file's 8 MB left the disk's free space and came back through the folder.
        #expect(counted >= plain - (64 << 10) && counted <= plain + (64 << 10), "\(plain) free before, \(counted) counted with the trash")
        let elsewhere = disk.url.appendingPathComponent("kept.bin")
        try Data(repeating: 7, count: 4 << 20).write(to: elsewhere)
        let less = try #require(SyncNode.freeBytes(at: disk.url.path, countingTrash: trash))
        #expect(counted - less >= 4 << 20, "a file outside the trash is not counted: \(counted) then \(less)")
    }
}
