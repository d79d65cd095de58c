import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// Found by the adversarial review of join by snapshot: hostile snapshots
/// and hellos that trapped, planted rows the check did not read, and the one
/// case where the origin shortcut leaves a third replica short (repaired by
/// the digest check). Each test states what must hold.
@Suite("Join by snapshot, review findings", .serialized, .timeLimit(.minutes(5)))
struct JoinReviewTests {
    typealias T = JoinSnapshotTests

    static func edit(_ path: String, _ sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try Store.disableTriggers(db)
            try db.execute(sql: sql)
        }
        try queue.close()
    }

    /// A peer whose schema gained a collection (the common case for a replica
    /// months behind): the joiner must be able to adopt its snapshot.
    /// Review of d803c1d: a file whose text is UTF-16 (SQLite would hand
    /// its text over converted, and the joiner cannot attach it) is refused
    /// by the header check, before any record is read.
    @Test func aSnapshotOfAnotherTextEncodingIsRefused() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try T.peer(in: dir)
        let path = dir.path("utf16.syncsnap")
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA encoding = 'UTF-16le'")
            try db.execute(sql: "CREATE TABLE sync_meta(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID")
        }
        try queue.close()
        let whole = #expect(throws: JoinSnapshotRefusal.self) { _ = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: p.seed) }
        #expect(whole?.reason == "its text encoding is UTF-16le, not UTF-8")
        let header = #expect(throws: JoinSnapshotRefusal.self) { try JoinSnapshotCheck.verifyHeader(path: path, expectedReplica: try p.replicaID, seed: p.seed) }
        #expect(header?.reason == "its text encoding is UTF-16le, not UTF-8")
    }

    /// A used snapshot leaves its name at once (moved into the trash, so a
    /// stop before its removal leaves no `joining-` file to be taken for a
    /// join cut short) and is removed in the background.
    @Test func aUsedSnapshotIsMovedAsideAtOnceAndRemovedLater() async throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try T.peer(in: dir)
        let path = try T.snapshot(of: p, in: dir, name: "joining-used.syncsnap")
        _ = FileManager.default.createFile(atPath: path + "-wal", contents: Data([1, 2, 3]))
        let trash = URL(fileURLWithPath: dir.path("join-trash"))
        Store.removeDatabaseFilesLater(path, via: trash)
        #expect(!FileManager.default.fileExists(atPath: path) && !FileManager.default.fileExists(atPath: path + "-wal"))
        #expect(try await eventually(timeout: .seconds(10)) { (try FileManager.default.contentsOfDirectory(atPath: trash.path)).isEmpty })
    }

    /// A row of junk claiming 2^63 slots reserves room for a few hundred at most.
    @Test func aSlotCountClaimReservesLittle() {
        var claim = BinaryWriter(capacity: 16)
        claim.writeVarint(UInt64(Int64.max))
        #expect(StoredRecord.slotCountBound(claim.bytes + [UInt8](repeating: 0, count: 1 << 20)) == StoredRecord.maxReservedSlots)
        var small = BinaryWriter(capacity: 16)
        small.writeVarint(3)
        #expect(StoredRecord.slotCountBound(small.bytes + [UInt8](repeating: 0, count: 100)) == 3)
        // A slot takes at least 7 bytes: 11 bytes hold one, 6 none.
        #expect(StoredRecord.slotCountBound(small.bytes + [UInt8](repeating: 0, count: 10)) == 1)
        #expect(StoredRecord.slotCountBound(small.bytes + [UInt8](repeating: 0, count: 5)) == 0)
        #expect(StoredRecord.slotCountBound([]) == 0)
    }

    @Test func aSnapshotWithACollectionTheJoinerLacksIsAdopted() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path("p"), withIntermediateDirectories: true)
        let p = try dir.store("p/data.db")
        try p.seed(SeedData.criticalMinerals())
        try p.changeSchema(.addCollection(name: "mines", description: "Mines"), author: "ana")
        try p.changeSchema(.addField(collection: "mines", field: "stage", type: "enum", values: ["producing", "exploration"], targets: [], description: nil), author: "ana")
        try p.create(ref("mines/bayan-obo"), [.set("stage", .text("producing"))], author: "ana")
        let j = try T.joiner(in: dir)
        let path = try T.snapshot(of: p, in: dir)
        let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: j.seed)
        _ = try j.adoptJoinSnapshot(at: path, facts: facts, reason: "test")
        #expect(try j.digest() == p.digest())
        #expect(try SchemaReplicationTests.tables(j) == SchemaReplicationTests.tables(p))
    }

    /// Review of e8a9b79: a collection table another program made again in
    /// other case (`Kilns` for `kilns`, its collection withheld) is the
    /// analyst's; a join by snapshot leaves its rows alone.
    @Test func aJoinLeavesATableRemadeInOtherCaseAlone() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path("p"), withIntermediateDirectories: true)
        let p = try dir.store("p/data.db")
        try p.seed(SeedData.criticalMinerals())
        try p.changeSchema(.addCollection(name: "kilns", description: nil), author: "ana")
        try p.changeSchema(.addField(collection: "kilns", field: "temp", type: "text", values: [], targets: [], description: nil), author: "ana")
        try p.create(ref("kilns/k1"), [.set("temp", .text("900"))], author: "ana")
        let j = try T.joiner(in: dir)
        _ = try pull(into: j, from: p)
        #expect(j.schema.collection("kilns") != nil)
        let mine = try DatabaseQueue(path: j.path)
        try mine.write { db in
            try db.execute(sql: "DROP TABLE kilns; CREATE TABLE \"Kilns\"(idx INTEGER, id TEXT, temp TEXT, conflicted INTEGER, mine TEXT)")
            try db.execute(sql: "INSERT INTO \"Kilns\" VALUES (0, 'k1', '900', 0, 'mine'), (1, 'k9', '1200', 0, 'mine too')")
        }
        try mine.close()
        let reopened = try Store(path: j.path)
        #expect(reopened.schema.collection("kilns") == nil, "withheld: the table is its maker's")
        let path = try T.snapshot(of: p, in: dir)
        let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: reopened.seed)
        _ = try reopened.adoptJoinSnapshot(at: path, facts: facts, reason: "test")
        #expect(try reopened.digest() == p.digest())
        let rows = try reopened.read { db in try String.fetchAll(db, sql: "SELECT mine FROM \"Kilns\" ORDER BY idx") }
        #expect(rows == ["mine", "mine too"], "the analyst's rows are kept")
    }

    /// Review of fd6c216: a seed collection is never withheld, so its table
    /// made again in other case (`Countries`, same columns) is syncd's, and
    /// a join empties it like any: no row of a record the adopted state
    /// does not hold is left in it.
    @Test func aJoinEmptiesASeedTableRemadeInOtherCase() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try T.peer(in: dir)
        let j = try T.joiner(in: dir)
        let mine = try DatabaseQueue(path: j.path)
        try mine.write { db in
            let sql = try #require(try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'countries'"))
            try db.execute(sql: "CREATE TABLE countries_copy AS SELECT * FROM countries; DROP TABLE countries")
            try db.execute(sql: sql.replacingOccurrences(of: "\"countries\"", with: "\"Countries\""))
            try db.execute(sql: "INSERT INTO \"Countries\" SELECT * FROM countries_copy; DROP TABLE countries_copy")
            try db.execute(sql: "INSERT INTO \"Countries\"(id, name, conflicted) VALUES ('zz', 'only here', 0)")
        }
        try mine.close()
        let reopened = try Store(path: j.path)
        #expect(reopened.schema.collection("countries") != nil)
        let path = try T.snapshot(of: p, in: dir)
        let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: reopened.seed)
        _ = try reopened.adoptJoinSnapshot(at: path, facts: facts, reason: "test")
        #expect(try reopened.digest() == p.digest())
        #expect(try reopened.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM countries WHERE id = 'zz'") } == 0)
        #expect(try reopened.viewDrift().count == 0)
    }

    /// A record row whose id is NULL (the snapshot's sync_records declared
    /// without INTEGER PRIMARY KEY) is skipped by the check's id ranges but
    /// copied by the adoption's INSERT … SELECT (main's rowid fills it in).
    @Test func aRecordRowTheCheckNeverReadIsNotAdopted() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try T.peer(in: dir)
        let path = try T.snapshot(of: p, in: dir)
        try Self.edit(path, """
            CREATE TABLE r2(id, collection TEXT NOT NULL, record TEXT NOT NULL, slots BLOB NOT NULL, slot_count INTEGER NOT NULL, conflicted INTEGER NOT NULL DEFAULT 0);
            INSERT INTO r2 SELECT id, collection, record, slots, slot_count, conflicted FROM sync_records;
            INSERT INTO r2 SELECT NULL, collection, 'planted', slots, slot_count, conflicted FROM sync_records WHERE collection = 'agreements' AND record = 'join-7';
            DROP TABLE sync_records;
            ALTER TABLE r2 RENAME TO sync_records;
            """)
        let j = try T.joiner(in: dir)
        do {
            let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: j.seed)
            _ = try j.adoptJoinSnapshot(at: path, facts: facts, reason: "test")
        } catch is JoinSnapshotRefusal { return }
        #expect(try j.record(ref("agreements/planted")) == nil, "a record the check never read was adopted")
        #expect(try j.viewDrift().count == 0)
    }

    /// A collection "table" that is a VIEW whose rows depend on the
    /// connection (total_changes() is 0 on the check's fresh read-only
    /// connection, not on the adopting writer): the check reads one thing,
    /// the adoption copies another.
    @Test func aCollectionTableThatIsAViewCannotPlantRows() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try T.peer(in: dir)
        let path = try T.snapshot(of: p, in: dir)
        let queue = try DatabaseQueue(path: path)
        let columns = try queue.read { db in try db.columns(in: "agreements").map(\.name) }
        try queue.close()
        let select = columns.map { $0 == "title" ? "CASE WHEN total_changes() = 0 THEN title ELSE 'Planted' END AS title" : $0.quotedDatabaseIdentifier }
        try Self.edit(path, """
            ALTER TABLE agreements RENAME TO agreements_real;
            CREATE VIEW agreements AS SELECT \(select.joined(separator: ", ")) FROM agreements_real;
            """)
        let j = try T.joiner(in: dir)
        do {
            let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: j.seed)
            _ = try j.adoptJoinSnapshot(at: path, facts: facts, reason: "test")
        } catch is JoinSnapshotRefusal { return }
        #expect(try SchemaReplicationTests.tables(j) == SchemaReplicationTests.tables(p), "planted table rows were adopted")
        #expect(try j.viewDrift().count == 0)
    }

    /// Review of the row-by-difference write (ea8c8fd): a table row whose
    /// text differs from the reading only after a NUL byte (GRDB read both as
    /// "A"), and a record whose name has a NUL in it (read as the name before
    /// it, with a matching table row): each snapshot is refused.
    @Test func textThatDiffersAfterANulIsRefused() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try T.peer(in: dir)
        let rowPath = try T.snapshot(of: p, in: dir, name: "row.syncsnap")
        try Self.edit(rowPath, "UPDATE agreements SET title = title || char(0) || 'hidden' WHERE id = 'join-7'")
        #expect(throws: JoinSnapshotRefusal.self) { try JoinSnapshotCheck.verify(path: rowPath, expectedReplica: try p.replicaID, seed: p.seed) }
        let namePath = try T.snapshot(of: p, in: dir, name: "name.syncsnap")
        try Self.edit(namePath, "UPDATE sync_records SET record = record || char(0) || 'x' WHERE collection = 'agreements' AND record = 'join-7'")
        #expect(throws: JoinSnapshotRefusal.self) { try JoinSnapshotCheck.verify(path: namePath, expectedReplica: try p.replicaID, seed: p.seed) }
        // The record pass reads names as bytes: a NUL, or bytes that are not
        // UTF-8 (which a String would mend), is refused by name.
        for (index, name) in ["CAST(CAST(record AS BLOB) || x'00' AS TEXT)", "CAST(x'ff' || CAST(record AS BLOB) AS TEXT)", "CAST(x'c0af' AS TEXT)"].enumerated() {
            let path = try T.snapshot(of: p, in: dir, name: "bytes-\(index).syncsnap")
            try Self.edit(path, "UPDATE sync_records SET record = \(name) WHERE collection = 'agreements' AND record = 'join-7'")
            let refusal = #expect(throws: JoinSnapshotRefusal.self) { try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: p.seed) }
            #expect(refusal?.reason.contains("a name with a NUL byte or bytes that are not UTF-8") == true, "\(name): \(refusal?.reason ?? "")")
        }
    }

    /// A feed row with NULL in it (sync_feed declared without constraints):
    /// must be a refusal, not a trap (`let seq: Int64 = row[0]` is `try!`).
    @Test func aNullFeedRowIsRefusedNotATrap() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try T.peer(in: dir)
        let path = try T.snapshot(of: p, in: dir)
        try Self.edit(path, """
            CREATE TABLE f2(seq, record_id);
            INSERT INTO f2 SELECT seq, record_id FROM sync_feed;
            INSERT INTO f2 VALUES (NULL, NULL);
            DROP TABLE sync_feed;
            ALTER TABLE f2 RENAME TO sync_feed;
            """)
        #expect(throws: JoinSnapshotRefusal.self) { try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: p.seed) }
    }

    /// JoinRules.initialCursor: a third replica c that read the origin o up
    /// to the snapshot's seq AFTER the snapshot was taken does not hold every
    /// state of the joined feed up to there: a slot that moved past c's
    /// cursor after the snapshot is in j's feed at its old seq, which c skips.
    /// The origin changes a slot after its snapshot, and the third replica
    /// reads the origin up to the snapshot's seq but not that change (the
    /// origin was further by then): the origin's feed it read is not the one
    /// the joined replica holds, so it reads the joined replica from the
    /// start (`JoinRules.initialCursor`) and misses nothing.
    @Test func aThirdReplicaNeverSkipsAStateItDoesNotHold() throws {
        let dir = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path("o"), withIntermediateDirectories: true)
        let o = try dir.store("o/data.db")
        try o.seed(SeedData.criticalMinerals())
        try o.create(ref("agreements/x"), [.set("title", .text("X first")), .set("status", .text("active"))], author: "ana")
        try o.create(ref("agreements/y"), [.set("title", .text("Y")), .set("status", .text("active"))], author: "ana")
        let path = try T.snapshot(of: o, in: dir)
        let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try o.replicaID, seed: o.seed)
        try o.update(ref("agreements/x"), [.set("title", .text("X second"))], author: "ana")
        let c = try T.joiner(in: dir, "c")
        let oID = try o.replicaID, cID = try c.replicaID
        while try c.cursor(for: oID) < facts.highestSeq {
            let batch = try o.changes(since: try c.cursor(for: oID), maxCount: 1, maxBytes: 1 << 20, for: cID)
            try c.apply(batch.changes, from: oID, cursor: batch.cursor, peerHighest: batch.highest)
        }
        let j = try T.joiner(in: dir, "j")
        _ = try j.adoptJoinSnapshot(at: path, facts: facts, reason: "test")
        let origin = try #require(try j.joinOrigin())
        #expect(try c.startCursor(for: j.replicaID, joinedFrom: origin) == nil)
        try T.pullCounting(into: c, from: j)
        let title = SlotKey(collection: "agreements", record: "x", field: "title", element: "")
        #expect(try c.read { try $0.slotState(title) } != .empty, "c skipped j's state of x's title")
        // Had c read the origin to its end, or before it wrote again, the shortcut holds.
        let d = try T.joiner(in: dir, "d")
        try T.pullCounting(into: d, from: o)
        #expect(try d.startCursor(for: j.replicaID, joinedFrom: origin) == origin.seq)
        #expect(try T.pullCounting(into: d, from: j) == 0)
        #expect(try d.read { try $0.slotState(title) } == o.read { try $0.slotState(title) })
    }

    @Test func aPlantedHistoryRowCannotTrapRecentChanges() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try T.peer(in: dir)
        let path = try T.snapshot(of: p, in: dir)
        try Self.edit(path, "INSERT INTO sync_history(record_key, collection, record, seq, entries) SELECT record_key, collection, record, -1, entries FROM sync_history LIMIT 1")
        let j = try T.joiner(in: dir)
        do {
            let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: j.seed)
            _ = try j.adoptJoinSnapshot(at: path, facts: facts, reason: "test")
        } catch is JoinSnapshotRefusal { return }
        _ = try j.recentChanges(ChangeFilter())
    }

    /// A hello whose origin names us, with a seq at or over 2^63: the cursor
    /// is stored as `Int64(cursor)`, which traps (a remote crash by any peer).
    @Test func anOriginSeqOverInt64MaxIsNotATrap() throws {
        let dir = TemporaryDirectory()
        let c = try dir.store("c.db")
        let stranger = ReplicaID(high: 1, low: 2)
        _ = try? c.startCursor(for: stranger, joinedFrom: JoinOrigin(replica: try c.replicaID, seq: UInt64(Int64.max) + 1))
        #expect(try c.cursor(for: stranger) <= UInt64(Int64.max))
    }

    /// Record row ids at both ends of Int64 (valid rowids, no DDL change):
    /// `split` computes `upperBound - lowerBound`, which overflows and traps.
    @Test func extremeRecordIdsAreRefusedNotATrap() throws {
        let dir = TemporaryDirectory()
        let (p, _, _) = try T.peer(in: dir)
        let path = try T.snapshot(of: p, in: dir)
        try Self.edit(path, """
            UPDATE sync_records SET id = -9223372036854775808 WHERE id = (SELECT min(id) FROM sync_records);
            UPDATE sync_records SET id = 9223372036854775807 WHERE id = (SELECT max(id) FROM sync_records);
            """)
        #expect(throws: JoinSnapshotRefusal.self) { try JoinSnapshotCheck.verify(path: path, expectedReplica: try p.replicaID, seed: p.seed) }
    }

    /// The received file goes to the disk beside the check, through a
    /// descriptor of its own: the sync succeeds after the caller closed its
    /// descriptor, and one that cannot be made is a refusal (the fall back to
    /// the pull), never a pass.
    @Test func theReceivedFileIsSyncedBesideTheCheckOrRefused() throws {
        let dir = TemporaryDirectory()
        let url = URL(fileURLWithPath: dir.path("received.syncsnap"))
        #expect(FileManager.default.createFile(atPath: url.path, contents: Data(repeating: 1, count: 1 << 20)))
        let handle = try FileHandle(forWritingTo: url)
        let syncing = BackgroundWork.fileSync(handle.fileDescriptor)
        try handle.close()
        try syncing.value()
        try syncing.value()  // waited for twice: the same answer
        #expect(throws: JoinSnapshotRefusal.self) { try BackgroundWork.fileSync(-1).value() }
    }

    /// Once a transfer has begun, pings do not keep a stalled one alive:
    /// without a chunk for two minutes, the joiner calls it a violation.
    @Test func aTransferThatStallsBetweenChunksIsCut() throws {
        let asked = ContinuousClock.now - .seconds(SyncNode.joinChunkSilenceSeconds * 2)
        try SyncNode.requireProgress(asked: asked, lastChunk: .now - .seconds(5))
        #expect(throws: SessionError.protocolViolation("pings but no snapshot chunk for 120 s in the middle of a transfer")) {
            try SyncNode.requireProgress(asked: asked, lastChunk: .now - .seconds(SyncNode.joinChunkSilenceSeconds + 1))
        }
        // Before the first chunk the peer is taking its snapshot: half an hour.
        try SyncNode.requireProgress(asked: asked, lastChunk: nil)
        #expect(throws: SessionError.protocolViolation("pings but no snapshot chunk for 1800 s after asking for one")) {
            try SyncNode.requireProgress(asked: .now - .seconds(SyncNode.joinFirstChunkSeconds + 1), lastChunk: nil)
        }
    }
}
