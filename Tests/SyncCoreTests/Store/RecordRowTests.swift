import Foundation
import GRDB
import Testing
@_spi(Testing) @testable import SyncCore
import TestSupport

/// The record-row layout (format 2): one `sync_records` row per record, the
/// change feed walked through `sync_feed`, and the move from format 1.
@Suite("Record rows: feed entries, paging under writes, format-1 migration", .timeLimit(.minutes(3)))
struct RecordRowTests {
    /// Every seq a slot carries has exactly one feed entry naming its record,
    /// and no entry outlives the last slot carrying its seq.
    static func checkFeed(of store: Store) throws {
        try store.read { db in
            var carried: [Int64: Int64] = [:]
            let rows = try Row.fetchAll(db, sql: "SELECT id, collection, record, slots FROM sync_records")
            for row in rows {
                let ref = RecordRef(collection: row[1], id: row[2])
                for seq in RecordRowWriter.distinctSeqs(try StoredRecord.decode([UInt8](row[3] as Data), ref: ref)) {
                    #expect(carried[seq] == nil, "seq \(seq) carried by two records")
                    carried[seq] = row[0]
                }
            }
            var feed: [Int64: Int64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT seq, record_id FROM sync_feed") { feed[row[0]] = row[1] }
            #expect(feed == carried)
        }
    }

    @Test func feedEntriesFollowTheSeqsSlotsCarry() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.seed(SeedData.criticalMinerals())
        let before = try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sync_feed") ?? 0 }
        // Ten edits of one field: each moves that slot to a new seq; only the
        // latest entry for it may remain next to the record's seeded one.
        for round in 1...10 {
            try store.update(ref("countries/cn"), [.set("notes", .text("round \(round)"))], author: "ana")
        }
        try Self.checkFeed(of: store)
        let after = try store.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM sync_feed") ?? 0 }
        #expect(after <= before + 1)
        // An edit sends the slots it changed (the field, and existence, which
        // every edit asserts), not the rest of the record.
        let latest = try store.changes(since: try store.highestSeq() - 1, maxCount: 100, maxBytes: 1 << 20)
        #expect(Set(latest.changes.map(\.key.field)) == ["notes", SlotKey.existsField])
        // The slots left out are skipped undecoded; what is sent is still read whole.
        #expect(latest.changes.first { $0.key.field == "notes" }?.state.versions.map(\.value) == [.text("round 10")])
        let whole = try store.changes(since: 0, maxCount: 100_000, maxBytes: 1 << 30).changes
        #expect(whole.first { $0.key.record == "cn" && $0.key.field == "notes" }?.state.versions.map(\.value) == [.text("round 10")])
        #expect(try store.record(ref("countries/cn"))!.scalars.count > 2)
    }

    @Test func pagingWhileTheSourceWritesMissesNothing() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        let b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        let refs = try a.read { db in
            try Row.fetchAll(db, sql: "SELECT collection, record FROM sync_records ORDER BY id").map { RecordRef(collection: $0[0], id: $0[1]) }
        }
        let countries = refs.filter { $0.collection == "countries" }
        #expect(countries.count >= 4)
        // Pull one small page at a time; between pages, edit records both
        // behind the puller's cursor and ahead of it, so records move past it.
        var round = 0
        while true {
            let sourceID = try a.replicaID
            let cursor = try b.cursor(for: sourceID)
            let page = try a.changes(since: cursor, maxCount: 7, maxBytes: 1 << 20, for: try b.replicaID)
            try b.apply(page.changes, from: sourceID, cursor: page.cursor)
            round += 1
            if round <= 40 {
                try a.update(countries[round % countries.count], [.set("notes", .text("edit \(round)"))], author: "ana")
            } else if !page.hasMore {
                break
            }
            if round >= 1_000 {
                Issue.record("the puller never caught up")
                break
            }
        }
        #expect(try a.digest() == b.digest())
        #expect(try pull(into: b, from: a) == 0)
        for ref in refs { #expect(try a.record(ref)?.scalars == (try b.record(ref))?.scalars, "\(ref)") }
        try Self.checkFeed(of: a)
        try Self.checkFeed(of: b)
    }

    @Test func aFormatOneDatabaseMovesToRecordRows() throws {
        let dir = TemporaryDirectory()
        let path = dir.path("old.db")
        var expected: (digest: StateDigest, changes: Int, conflicts: [SlotConflict])
        do {
            let a = try dir.store("a.db")
            let store = try dir.store("old.db")
            try store.seed(SeedData.criticalMinerals())
            try a.create(ref("countries/no"), [.set("name", .text("Norway"))], author: "ana")
            try pull(into: a, from: store)
            try store.update(ref("countries/cn"), [.set("notes", .text("mine"))], author: "ben")
            try a.update(ref("countries/cn"), [.set("notes", .text("theirs"))], author: "ana")
            try pull(into: store, from: a)
            expected = (try store.digest(), try store.changes(since: 0, maxCount: 100_000, maxBytes: 1 << 30).changes.count, try store.conflicts())
            #expect(!expected.conflicts.isEmpty)
            try store.rewriteAsFormatOne()
        }
        let tables = try DatabaseQueue(path: path).read { db in (try db.tableExists("sync_slots"), try db.tableExists("sync_records")) }
        #expect(tables == (true, false))
        let store = try dir.store("old.db")
        #expect(try store.digest() == expected.digest)
        // Format 1 stamped each slot with its own seq; they are kept.
        #expect(try store.highestSeq() == UInt64(expected.changes))
        #expect(try store.conflicts() == expected.conflicts)
        #expect(try store.changes(since: 0, maxCount: 100_000, maxBytes: 1 << 30).changes.count == expected.changes)
        #expect(try store.read { try Int.fetchOne($0, sql: "SELECT value FROM sync_meta WHERE key = 'format'") } == StoreTables.formatVersion)
        try Self.checkFeed(of: store)
        try DigestBookkeepingTests.checkBookkeeping(of: store)
        // It keeps working: a local edit and a pull.
        try store.update(ref("countries/no"), [.set("notes", .text("after"))], author: "ben")
        #expect(try store.record(ref("countries/no"))?.value("notes") == .text("after"))
    }

    /// Formats 4 and 5 only add what a format-3 file never holds (slot
    /// origins, deferred history): a format-3 file opens as it is and is
    /// marked with this build's format; a file of a later format than this
    /// build's is refused at open with what to do.
    @Test func aFormatThreeFileOpensAndALaterOneIsRefused() throws {
        let dir = TemporaryDirectory()
        let path = dir.path("f.db")
        let digest: StateDigest
        do {
            var options = Store.Options()
            options.deferFirstHistory = false  // as a build of format 3 wrote it
            let store = try dir.store("f.db", options: options)
            try store.seed(SeedData.criticalMinerals())
            digest = try store.digest()
        }
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "UPDATE sync_meta SET value = 3 WHERE key = 'format'") }
        try queue.close()
        // A read-only open (every `syncctl` query) leaves it format 3.
        do {
            var options = Store.Options()
            options.readOnly = true
            let store = try dir.store("f.db", options: options)
            #expect(try store.digest() == digest)
            #expect(try store.read { try Int.fetchOne($0, sql: "SELECT value FROM sync_meta WHERE key = 'format'") } == 3)
        }
        do {
            let store = try dir.store("f.db")
            #expect(try store.digest() == digest)
            #expect(try store.read { try Int.fetchOne($0, sql: "SELECT value FROM sync_meta WHERE key = 'format'") } == StoreTables.formatVersion)
        }
        let later = try DatabaseQueue(path: path)
        try later.write { db in try db.execute(sql: "UPDATE sync_meta SET value = \(StoreTables.formatVersion + 1) WHERE key = 'format'") }
        try later.close()
        let error = #expect(throws: StoreError.self) { try dir.store("f.db") }
        #expect("\(error.map { "\($0)" } ?? "")".contains("\(StoreTables.formatVersion + 1)"))
    }

    @Test func aFormatOneSnapshotVerifiesAndMerges() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        try a.seed(SeedData.criticalMinerals())
        try a.update(ref("countries/cn"), [.set("notes", .text("before the upgrade"))], author: "ana")
        let snapshot = dir.url.appendingPathComponent("old.syncsnap")
        _ = try Snapshots.create(from: a, to: snapshot)
        var manifest = try SnapshotManifest.load(for: snapshot)
        do {
            // Opened as a store, the snapshot file is a copy: it takes a new
            // replica id, which the rewritten manifest records.
            let old = try dir.store("old.syncsnap")
            try old.rewriteAsFormatOne()
            manifest.replica = try old.replicaID.hex
        }
        manifest.sha256 = try SnapshotManifest.sha256(of: snapshot)
        try manifest.write(beside: snapshot)
        let scratch = dir.url.appendingPathComponent("scratch")
        // Verified on a migrated copy, removed whole with SQLite's files beside it.
        #expect(try Snapshots.verify(snapshot, scratchParent: scratch) == [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
        let b = try dir.store("b.db")
        let report = try Snapshots.merge(snapshot, into: b, scratchParent: scratch)
        #expect(report.changed > 0)
        // The copy merged from, and what opening it made beside it (its
        // counter mark), are gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
        #expect(try b.digest() == a.digest())
        #expect(try b.record(ref("countries/cn"))?.value("notes") == .text("before the upgrade"))
        // Verify and merge leave the snapshot file as it was.
        #expect(try SnapshotManifest.sha256(of: snapshot) == manifest.sha256)
        // Merged through a link to it, too: the copy is of its bytes, not the link.
        let link = dir.url.appendingPathComponent("linked.syncsnap")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: snapshot)
        try FileManager.default.copyItem(at: SnapshotManifest.url(for: snapshot), to: SnapshotManifest.url(for: link))
        let c = try dir.store("c.db")
        #expect(try Snapshots.merge(link, into: c, scratchParent: scratch).changed > 0)
        #expect(try SnapshotManifest.sha256(of: snapshot) == manifest.sha256)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
        // A file that claims its migrations done yet keeps the format-1
        // layout is refused, not migrated again without end.
        let stuck = dir.url.appendingPathComponent("stuck.syncsnap")
        try FileManager.default.copyItem(at: snapshot, to: stuck)
        let done = try a.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
        try DatabaseQueue(path: stuck.path).writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
            for identifier in done { try db.execute(sql: "INSERT OR IGNORE INTO grdb_migrations(identifier) VALUES (?)", arguments: [identifier]) }
        }
        #expect(try DatabaseQueue(path: stuck.path).read { db in try db.tableExists("sync_slots") && !db.tableExists("sync_records") })
        var stuckManifest = manifest
        stuckManifest.sha256 = try SnapshotManifest.sha256(of: stuck)
        try stuckManifest.write(beside: stuck)
        #expect(try Snapshots.verify(stuck, scratchParent: scratch).contains { $0.contains("did not move to record rows") })
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
    }

    /// A row's bytes do not depend on the order its slots were gathered in
    /// (a Dictionary's, which differs per instance and per process): the
    /// slots go in by field and element bytes.
    @Test func aRowIsWrittenInOneOrder() throws {
        let names = (0..<40).map { FieldElement(field: ["name", "uses", "notes", "_exists"][$0 % 4], element: $0 % 4 == 1 ? "m\($0)" : "") }
            .reduce(into: [FieldElement]()) { if !$0.contains($1) { $0.append($1) } }
        func row(_ order: [FieldElement], reserving: Int) -> [UInt8] {
            var slots: [FieldElement: StoredSlot] = [:]
            slots.reserveCapacity(reserving)
            for (index, name) in order.enumerated() {
                slots[name] = StoredSlot(seq: Int64(index % 3 + 1), echo: nil, encoded: [UInt8(index)], state: .empty)
            }
            // The same state for a name whatever the order (seq and bytes by name).
            var scratch = BinaryWriter(capacity: 64)
            let empty = EncodedSlot(SlotKey(collection: "minerals", record: "li", field: "name"), .empty, scratch: &scratch).state
            for name in order { slots[name]?.seq = Int64(name.element.utf8.count + name.field.utf8.count); slots[name]?.encoded = empty[...] }
            var writer = BinaryWriter(capacity: 64)
            StoredRecord.encode(slots, into: &writer)
            return writer.bytes
        }
        let first = row(names, reserving: 0)
        for (reserving, order) in [(0, names.reversed()), (1_000, names), (64, names.shuffled())] {
            #expect(row(Array(order), reserving: reserving) == first)
        }
        var decoded: [String] = []
        try StoredRecord.forEach(first, ref: RecordRef(collection: "minerals", id: "li")) { name, _ in decoded.append(name.field + "/" + name.element) }
        #expect(decoded.map { Array($0.utf8) } == decoded.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) })
    }
}
