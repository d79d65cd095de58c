import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// Storage format 6 (docs/storage-format.md): a record row keeps no hash
/// per slot (flag bit 3); the digest's hashes are made from the states
/// where they are needed. Rows written by an older build still hold theirs,
/// which is skipped unread: such a file opens as it is, joins and restores,
/// and its digest stays the one its states make as its slots change.
@Suite("Record rows without slot hashes (format 6)", .timeLimit(.minutes(3)))
struct HashlessRowTests: EditedSnapshots {
    /// A record row as builds before format 6 wrote it: each slot's flags
    /// without bit 3, and 16 bytes of hash before its state (`hash` decides them).
    static func formatFiveRow(_ slots: [FieldElement: StoredSlot], hash: (FieldElement, StoredSlot) -> SlotHash) -> [UInt8] {
        var writer = BinaryWriter()
        writer.writeVarint(UInt64(slots.count))
        for (name, slot) in slots.sorted(by: { FieldElement.precedes($0.key, $1.key) }) {
            writer.writeString(name.field)
            writer.writeString(name.element)
            writer.writeVarint(UInt64(slot.seq))
            writer.writeByte((slot.echo == nil ? 0 : 1) | (slot.origin == nil ? 0 : 2) | (slot.historyPending ? 4 : 0))
            if let echo = slot.echo { writer.writeReplica(echo) }
            if let origin = slot.origin {
                writer.writeReplica(origin.replica)
                writer.writeVarint(origin.seq)
            }
            hash(name, slot).withUnsafeBytes { writer.writeRaw($0) }
            writer.writeBlob(slot.encoded)
        }
        return writer.bytes
    }

    /// Rewrites every record row of the database at `path` as a build of
    /// format 5 wrote it (with its true hashes, or `junk` ones) and marks
    /// the file format 5; returns how many rows.
    @discardableResult
    static func rewriteAsFormatFive(_ path: String, junkHashes: Bool = false) throws -> Int {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.write { db in try rewriteAsFormatFive(db, junkHashes: junkHashes) }
    }

    @discardableResult
    static func rewriteAsFormatFive(_ db: Database, junkHashes: Bool = false) throws -> Int {
        var scratch = BinaryWriter()
        var rows: [(Int64, [UInt8])] = []
        for row in try Row.fetchAll(db, sql: "SELECT id, collection, record, slots FROM sync_records") {
            let ref = RecordRef(collection: row[1], id: row[2])
            let slots = try StoredRecord.decode([UInt8](row[3] as Data), ref: ref)
            rows.append((row[0], formatFiveRow(slots) { name, slot in
                junkHashes ? [UInt8](repeating: UInt8(truncatingIfNeeded: slot.seq), count: 16).withUnsafeBytes { SlotHash(stored: $0)! }
                    : slot.recomputedHash(under: SlotKey(collection: ref.collection, record: ref.id, field: name.field, element: name.element),
                                          scratch: &scratch).hash
            }))
        }
        for (id, bytes) in rows {
            try db.execute(sql: "UPDATE sync_records SET slots = ? WHERE id = ?", arguments: [Data(bytes), id])
        }
        try db.execute(sql: "UPDATE sync_meta SET value = 5 WHERE key = 'format'")
        return rows.count
    }

    /// Bytes of every record row, and of the same rows in the format-5 layout.
    static func rowBytes(of store: Store) throws -> (now: Int, formatFive: Int, slots: Int) {
        try store.read { db in
            var now = 0, old = 0, slots = 0
            try db.forEachStoredRecord { _, decoded in
                var writer = BinaryWriter()
                StoredRecord.encode(decoded, into: &writer)
                now += writer.bytes.count
                old += formatFiveRow(decoded) { _, _ in .zero }.count
                slots += decoded.count
            }
            return (now, old, slots)
        }
    }

    @Test func rowsWrittenNowHoldNoHash() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store("a.db")
        try store.seed(SeedData.criticalMinerals())
        try store.update(ref("countries/cn"), [.set("notes", .text("changed"))], author: "ana")
        let stored = try store.read { db in
            try Row.fetchAll(db, sql: "SELECT record, slots FROM sync_records").reduce(0) { $0 + ($1[1] as Data).count }
        }
        let bytes = try Self.rowBytes(of: store)
        #expect(bytes.slots > 100)
        // What is stored is this build's encoding, 16 bytes a slot shorter than format 5's.
        #expect(stored == bytes.now)
        #expect(bytes.formatFive == bytes.now + 16 * bytes.slots)
        try DigestBookkeepingTests.checkBookkeeping(of: store)
    }

    /// A format-5 file opens as it is: its digest is the one it had, and a
    /// slot replaced by a local write or a peer's batch takes out of its
    /// bucket the hash its old state makes, so both replicas end equal
    /// and the buckets add up to the states.
    @Test(arguments: [false, true])
    func aFormatFiveFileOpensAsItIsAndItsDigestFollowsItsStates(junkHashes: Bool) throws {
        let dir = TemporaryDirectory()
        let b = try dir.store("b.db")
        let before: StateDigest
        do {
            let a = try dir.store("a.db")
            try a.seed(SeedData.criticalMinerals())
            try pull(into: b, from: a)
            before = try a.digest()
        }
        let rows = try Self.rewriteAsFormatFive(dir.path("a.db"), junkHashes: junkHashes)
        #expect(rows > 50)
        let a = try dir.store("a.db")
        #expect(try a.read { try Int.fetchOne($0, sql: "SELECT value FROM sync_meta WHERE key = 'format'") } == StoreTables.formatVersion)
        #expect(try a.digest() == before)
        // Upgraded on open: the layout `syncctl check` holds it to (helper-81).
        #expect(try a.layoutProblems().isEmpty)
        #expect(try Self.rowBytes(of: a).now < (try a.read { db in
            try Data.fetchAll(db, sql: "SELECT slots FROM sync_records").reduce(0) { $0 + $1.count }
        }), "the rows are still in the format-5 layout")
        // Replaced on both sides, concurrently (a conflict), and through a pull each way.
        try a.update(ref("countries/cn"), [.set("notes", .text("from a"))], author: "ana")
        try b.update(ref("countries/cn"), [.set("notes", .text("from b"))], author: "ben")
        try b.update(ref("countries/zw"), [.set("notes", .text("only b"))], author: "ben")
        try a.delete(ref("minerals/cobalt"), author: "ana")
        try pull(into: a, from: b)
        try pull(into: b, from: a)
        #expect(try a.digest() == b.digest())
        #expect(try a.digest() != before)
        #expect(try !a.conflicts().isEmpty)
        for store in [a, b] { try DigestBookkeepingTests.checkBookkeeping(of: store) }
    }

    /// A join snapshot of a format-5 file (a peer of protocol 1.7, which a
    /// joiner of 1.8 asks too) is checked and adopted: its hashes are not
    /// read, the digest is its states'.
    @Test func aFormatFiveJoinSnapshotIsCheckedAndAdopted() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try JoinSnapshotTests.peer(in: dir)
        let path = try JoinSnapshotTests.snapshot(of: p, in: dir)
        try Self.rewriteAsFormatFive(path)
        let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: p.seed)
        #expect(facts.digest == (try p.digest()))
        let j = try JoinSnapshotTests.joined(from: p, snapshot: path, in: dir)
        #expect(try j.digest() == p.digest())
        #expect(try j.layoutProblems().isEmpty)
        try DigestBookkeepingTests.checkBookkeeping(of: j)
    }

    /// A snapshot taken by a build of format 5 (its rows with their true
    /// hashes or junk ones), or a file marked 5 whose rows have none: each
    /// verifies, restores with the digest it was taken with, and a record
    /// written after keeps the buckets those of the states.
    @Test(arguments: [(true, false), (true, true), (false, false)])
    func aFormatFiveSnapshotVerifiesAndRestores(rewriteRows: Bool, junkHashes: Bool) throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let url = try snapshot(in: dir, data: data) { db in
            if rewriteRows {
                #expect(try Self.rewriteAsFormatFive(db, junkHashes: junkHashes) > 20)
            } else {
                try db.execute(sql: "UPDATE sync_meta SET value = 5 WHERE key = 'format'")
            }
        }
        #expect(try Snapshots.verify(url) == [])
        let (_, taken) = try state(of: data)
        _ = try Snapshots.restore(url, into: data, deviceID: "DEV-A")
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        #expect(try store.digest() == taken)
        #expect(try store.layoutProblems().isEmpty)
        try store.update(ref("countries/x3"), [.set("name", .text("Changed after the restore"))], author: "ana")
        try store.delete(ref("countries/x4"), author: "ana")
        #expect(try store.digest() != taken)
        try DigestBookkeepingTests.checkBookkeeping(of: store)
    }
}
