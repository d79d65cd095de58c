import Foundation
import GRDB
import PropertyBased
import Testing
@testable import SyncCore
import SyncSimulation
import TestSupport

/// The schema as replicated data, through real stores on disk: changes
/// travel like edits, SQL tables follow in the applying transaction, data and
/// schema may arrive in either order, and disagreeing definitions surface as
/// conflicts that `resolve` settles (docs/schema.md "How the schema evolves").
@Suite("Schema replication through the store", .timeLimit(.minutes(5)))
struct SchemaReplicationTests {
    static func addField(_ collection: String, _ field: String, _ type: String, values: [String] = [], targets: [String] = []) -> SchemaEvolution.Change {
        .addField(collection: collection, field: field, type: type, values: values, targets: targets, description: nil)
    }

    /// Column names of a table, sorted by bytes.
    static func columns(_ store: Store, _ table: String) throws -> [String] {
        try store.read { db in try db.columns(in: table).map(\.name) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Every row of every collection table, columns in name order, as text.
    static func tables(_ store: Store) throws -> [String] {
        try store.read { db in
            var out: [String] = []
            for collection in store.schema.tableCollections {
                let names = try db.columns(in: collection.name).map(\.name).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                out.append("\(collection.name)(\(names.joined(separator: ",")))")
                let list = names.map { "quote(\($0.quotedDatabaseIdentifier))" }.joined(separator: " || '|' || ")
                out += try String.fetchAll(db, sql: "SELECT \(list) FROM \(collection.name.quotedDatabaseIdentifier) ORDER BY id")
            }
            return out
        }
    }

    @Test func aSchemaChangeTravelsAndTheTablesFollow() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        try a.changeSchema(Self.addField("agreements", "value_usd", "decimal"), author: "ana")
        try a.changeSchema(.addCollection(name: "mines", description: "Mines"), author: "ana")
        try a.changeSchema(Self.addField("mines", "stage", "enum", values: ["producing", "exploration"]), author: "ana")
        try a.update(ref("agreements/us-cn-trade-truce-2025"), [.set("value_usd", .text("12.5"))], author: "ana")
        try a.create(ref("mines/bayan-obo"), [.set("stage", .text("producing"))], author: "ana")
        try pull(into: b, from: a)
        #expect(b.schema.hash == a.schema.hash)
        #expect(try Self.columns(b, "agreements").contains("value_usd"))
        #expect(try Self.tables(b) == Self.tables(a))
        #expect(try b.read { try String.fetchOne($0, sql: "SELECT stage FROM mines WHERE id = 'bayan-obo'") } == "producing")
        #expect(try b.digest() == a.digest())
        #expect(try b.schemaProblems().isEmpty)
        // A store opened afresh on b's file computes the same schema.
        #expect(try Store(path: dir.path("b.db")).schema.hash == a.schema.hash)
    }

    /// A set field added to a collection reads '[]' in every existing row,
    /// as rows written afresh (and on a replica that learns it later) have it.
    @Test func anAddedSetColumnReadsEmptyNotNull() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        try a.seed(SeedData.criticalMinerals())
        try a.changeSchema(Self.addField("agreements", "labels", "set:text"), author: "ana")
        #expect(try a.viewDrift().count == 0)
        #expect(try a.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM agreements WHERE labels IS NULL") } == 0)
    }

    /// Data for a field this replica does not know yet is stored, and shows
    /// in the table as soon as the definition arrives, with no further sync.
    @Test func dataMayArriveBeforeItsField() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        let cursor = try a.highestSeq()
        try a.changeSchema(Self.addField("agreements", "value_usd", "decimal"), author: "ana")
        try a.update(ref("agreements/us-cn-trade-truce-2025"), [.set("value_usd", .text("12.5"))], author: "ana")
        let changes = try a.changes(since: cursor, maxCount: 1_000, maxBytes: 1 << 20).changes
        let (schemaChanges, data) = (changes.filter { $0.key.collection == SchemaEvolution.collection }, changes.filter { $0.key.collection != SchemaEvolution.collection })
        _ = try b.apply(data, from: try a.replicaID, cursor: nil)
        #expect(try b.schemaProblems().count == 1)
        #expect(try !Self.columns(b, "agreements").contains("value_usd"))
        _ = try b.apply(schemaChanges, from: try a.replicaID, cursor: nil)
        #expect(try b.read { try String.fetchOne($0, sql: "SELECT value_usd FROM agreements WHERE id = 'us-cn-trade-truce-2025'") } == "12.5")
        #expect(try b.schemaProblems().isEmpty)
        #expect(try b.digest() == a.digest())
    }

    /// Two replicas add the same field with different types: a conflict on
    /// both, the field withheld on both (its data kept), settled by `resolve`.
    @Test func disagreeingAdditionsConflictAndResolve() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        try a.changeSchema(Self.addField("agreements", "value_usd", "decimal"), author: "ana")
        try b.changeSchema(Self.addField("agreements", "value_usd", "text"), author: "ben")
        try a.changeSchema(Self.addField("countries", "iso3", "text"), author: "ana")
        try b.changeSchema(Self.addField("countries", "capital", "text"), author: "ben")
        try pull(into: b, from: a)
        try pull(into: a, from: b)
        for store in [a, b] {
            #expect(store.schema.collection("agreements")?.field("value_usd") == nil)
            #expect(store.schema.collection("countries")?.field("iso3") != nil && store.schema.collection("countries")?.field("capital") != nil)
            #expect(store.schemaDefinitionProblems.map(\.field) == ["type"])
            #expect(try store.conflicts(in: SchemaEvolution.collection).map(\.key.field) == ["type"])
        }
        #expect(a.schema.hash == b.schema.hash)
        let conflict = try #require(try a.conflicts(in: SchemaEvolution.collection).first)
        try a.resolve(conflict.key, expecting: conflict.siblings.map(\.dot), value: .text("decimal"), author: "ana")
        try pull(into: b, from: a)
        for store in [a, b] {
            #expect(store.schema.collection("agreements")?.field("value_usd")?.type == .decimal)
            #expect(try Self.columns(store, "agreements").contains("value_usd"))
        }
        #expect(try a.digest() == b.digest())
    }

    /// Another process (here: a second store on the file) changes the
    /// schema; this store's next write reads it again, so it never writes a
    /// row with an older schema's columns.
    @Test func aChangeByAnotherProcessIsTakenUpBeforeTheNextWrite() throws {
        let dir = TemporaryDirectory()
        let daemon = try dir.store("a.db")
        try daemon.seed(SeedData.criticalMinerals())
        let cli = try Store(path: dir.path("a.db"))
        try cli.changeSchema(Self.addField("agreements", "value_usd", "decimal"), author: "ana")
        try cli.update(ref("agreements/us-cn-trade-truce-2025"), [.set("value_usd", .text("7"))], author: "ana")
        #expect(daemon.schema.collection("agreements")?.field("value_usd") == nil)
        try daemon.update(ref("agreements/us-cn-trade-truce-2025"), [.set("summary", .text("s"))], author: "ana")
        #expect(daemon.schema.collection("agreements")?.field("value_usd") != nil)
        #expect(try daemon.read { try String.fetchOne($0, sql: "SELECT value_usd FROM agreements WHERE id = 'us-cn-trade-truce-2025'") } == "7")
        let other = try Store(path: dir.path("a.db"))
        try cli.changeSchema(.addValue(collection: "agreements", field: "status", value: "renegotiating"), author: "ana")
        #expect(try other.refreshSchemaIfChanged())
        #expect(try !other.refreshSchemaIfChanged())
        #expect(other.schema.collection("agreements")?.field("status")?.values?.contains("renegotiating") == true)
    }

    /// Store a seeded, store b pulled from it, and a plain connection to
    /// b's file (an analyst's client), in a directory of their own.
    static func seededPair() throws -> (TemporaryDirectory, Store, Store, DatabaseQueue) {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db"), b = try dir.store("b.db")
        try a.seed(SeedData.criticalMinerals())
        try pull(into: b, from: a)
        return (dir, a, b, try DatabaseQueue(path: dir.path("b.db")))
    }

    /// A collection named after a table an analyst made in this file is not
    /// taken over: withheld here, reported, the analyst's rows untouched.
    @Test func anAnalystsOwnTableIsNeverTakenOver() throws {
        let (dir, a, b, queue) = try Self.seededPair()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE Mines(name TEXT); INSERT INTO Mines VALUES ('mine')")
        }
        try a.changeSchema(.addCollection(name: "mines", description: nil), author: "ana")
        try a.changeSchema(Self.addField("mines", "stage", "text"), author: "ana")
        try a.changeSchema(.addCollection(name: "grdbx", description: nil), author: "ana")
        try pull(into: b, from: a)
        #expect(b.schema.collection("mines") == nil && b.schema.collection("grdbx") != nil)
        #expect(b.schemaDefinitionProblems.contains { $0.record == "c.mines" })
        #expect(try queue.read { try String.fetchAll($0, sql: "SELECT name FROM Mines") } == ["mine"])
        #expect(try b.digest() == a.digest())
        // Reopening works, and still leaves the table alone.
        let reopened = try Store(path: dir.path("b.db"))
        #expect(reopened.schema.collection("mines") == nil)
        #expect(try queue.read { try String.fetchAll($0, sql: "SELECT name FROM Mines") } == ["mine"])
    }

    /// A table syncd made for an added collection, made again by another
    /// program under the same name in other ASCII case (pandas'
    /// `to_sql("Notes", if_exists="replace")`: its own index column, a
    /// column and a row of the analyst's) is that program's table: the
    /// collection is withheld and the table left exactly as it is (an open
    /// would otherwise rebuild it, dropping what it added), until it is
    /// renamed. A table whose name only Swift's `lowercased()` folds onto
    /// the collection's (a Kelvin sign for K) is another name to SQLite,
    /// and withholds nothing.
    @Test func aCollectionTableMadeAgainInOtherCaseIsLeftAsItIs() throws {
        let (dir, a, b, queue) = try Self.seededPair()
        try queue.write { db in try db.execute(sql: "CREATE TABLE \"\u{212A}ilns\"(x TEXT); INSERT INTO \"\u{212A}ilns\" VALUES ('theirs')") }
        try a.changeSchema(.addCollection(name: "notes", description: nil), author: "ana")
        try a.changeSchema(Self.addField("notes", "body", "text"), author: "ana")
        try a.changeSchema(.addCollection(name: "kilns", description: nil), author: "ana")
        try a.create(RecordRef(collection: "notes", id: "n1"), [.set("body", .text("first"))], author: "ana")
        try pull(into: b, from: a)
        #expect(b.schema.collection("notes") != nil && b.schema.collection("kilns") != nil, "\(b.schemaDefinitionProblems)")
        #expect(b.schemaDefinitionProblems.isEmpty)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE notes_copy AS SELECT * FROM notes; DROP TABLE notes")
            try db.execute(sql: "CREATE TABLE \"Notes\"(\"index\" INTEGER, id TEXT, body TEXT, conflicted INTEGER, sentiment TEXT)")
            try db.execute(sql: "INSERT INTO \"Notes\" SELECT rowid, id, body, conflicted, 'calm' FROM notes_copy; DROP TABLE notes_copy")
            try db.execute(sql: "INSERT INTO \"Notes\" VALUES (2, 'n2', 'the analyst''s own', 0, 'keen')")
        }
        let mine = { try queue.read { db in try Row.fetchAll(db, sql: "SELECT * FROM \"Notes\" ORDER BY id").map { $0.description } } }
        let before = try mine()
        let reopened = try Store(path: dir.path("b.db"))
        #expect(reopened.schema.collection("notes") == nil)
        #expect(reopened.schemaDefinitionProblems.contains { $0.record == "c.notes" })
        #expect(try mine() == before, "the analyst's table is left exactly as it was")
        #expect(try reopened.digest() == a.digest(), "the replicated state is kept")
        #expect(try reopened.read { db in try String.fetchAll(db, sql: "SELECT x FROM \"\u{212A}ilns\"") } == ["theirs"])
        #expect(reopened.schema.collection("kilns") != nil)
        // Renamed by its owner: the collection's table is made again from the replicated state.
        try queue.write { db in try db.execute(sql: "ALTER TABLE \"Notes\" RENAME TO notes_mine") }
        try queue.close()
        let again = try Store(path: dir.path("b.db"))
        #expect(again.schema.collection("notes") != nil && again.schemaDefinitionProblems.isEmpty, "\(again.schemaDefinitionProblems)")
        #expect(try again.read { db in try String.fetchAll(db, sql: "SELECT body FROM notes") } == ["first"])
        #expect(try again.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM notes_mine") } == 2)
        #expect(try again.layoutProblems().isEmpty)
    }

    /// A hostile `_schema` record naming the store's own tables, or a taken
    /// index name, never stops the batch or a later open.
    @Test func hostileDefinitionsNeverStopTheReplica() throws {
        let (dir, _, b, queue) = try Self.seededPair()
        try queue.write { db in try db.execute(sql: "CREATE TABLE countries_by_bloc(x)") }
        // Written through the store's transaction as a peer would send it.
        let wall = UInt64(Date().timeIntervalSince1970 * 1000)
        var changes: [SlotChange] = []
        for (counter, (id, field, value)) in [("c.grdb_migrations", "description", Value.text("x")), ("c.sync_records", "description", .text("x")),
                                              ("f.countries.bloc", "type", .text("enum")), ("f.countries.bloc", "values", .text("[\"a\"]")),
                                              ("f.countries.name", "type", .text("integer"))].enumerated() {
            let mallory = ReplicaID(high: 7, low: 7)
            let dot = Dot(replica: mallory, counter: UInt64(counter + 1))
            let version = Version(dot: dot, hlc: HLC(millis: wall, logical: 0), author: "mallory", value: value)
            changes.append(SlotChange(key: SlotKey(collection: SchemaEvolution.collection, record: id, field: field), state: SlotState(versions: [version], context: VersionContext([(mallory, UInt64(counter + 1))]))))
        }
        _ = try b.apply(changes, from: nil, cursor: nil)
        #expect(b.schema.collection("countries")?.field("bloc")?.type == .enumeration)
        #expect(b.schema.collection("countries")?.field("name")?.type == .text)
        #expect(b.schemaDefinitionProblems.count == 3)
        #expect(try Store(path: dir.path("b.db")).schema.hash == b.schema.hash)
        try b.create(ref("countries/xx"), [.set("name", .text("X")), .set("bloc", .text("a"))], author: "ben")
    }

    /// Replicas that make random schema changes and edits and sync in a
    /// random order end equal: same digest, same schema, same SQL tables.
    @Test func randomSchemaChangesConverge() async throws {
        let pool: [SchemaEvolution.Change] = [
            Self.addField("agreements", "value_usd", "decimal"), Self.addField("agreements", "value_usd", "text"),
            Self.addField("countries", "stage", "enum", values: ["a", "b"]), Self.addField("countries", "stage", "enum", values: ["a", "c"]),
            .addCollection(name: "mines", description: "m"), .addCollection(name: "mines", description: "n"),
            Self.addField("mines", "owner", "ref", targets: ["countries"]), Self.addField("mines", "name", "text"),
            .addValue(collection: "agreements", field: "status", value: "paused"), .addValue(collection: "countries", field: "stage", value: "d"),
            .describe(collection: "countries", field: "notes", label: "Notes", description: nil),
            .describe(collection: "countries", field: "notes", label: "Remarks", description: "x"),
            .deprecateField(collection: "countries", field: "notes"),
        ]
        let hostile: [(String, String, Value)] = [
            ("c.mines_pending", "description", .text("x")), ("c.mm_by_kind", "description", .null), ("c.countries_refuse", "description", .null),
            ("c.mm", "description", .text("m")), ("f.mm.kind", "type", .text("enum")), ("f.mm.kind", "values", .text("[\"x\",\"y\"]")),
            ("f.countries.stage", "type", .text("text")), ("f.countries.size", "type", .text("decimal")), ("f.agreements._exists", "type", .text("text")),
            ("f.countries.stage", "more_values", .text("z")), ("f.nowhere.x", "type", .text("text")), ("c.grdb_migrations", "description", .null),
        ]
        let seed = try SeedData.criticalMinerals()
        await propertyCheck(count: 12, input: Gen.int(in: 0...1_000_000)) { number in
            var hostileCounter: UInt64 = UInt64(number) * 100
            var generator = SeededRandom(seed: UInt64(number))
            let dir = TemporaryDirectory()
            let stores = try! (0..<3).map { try dir.store("r\($0).db") }
            try! stores[0].seed(seed)
            for store in stores.dropFirst() { _ = try! pull(into: store, from: stores[0]) }
            for _ in 0..<14 {
                let store = stores[Int.random(in: 0..<3, using: &generator)]
                switch Int.random(in: 0..<5, using: &generator) {
                case 0, 1:
                    do { _ = try store.changeSchema(pool[Int.random(in: 0..<pool.count, using: &generator)], author: "a") } catch is SchemaError {
                        // refused as not additive, or exists already
                    } catch { Issue.record("a schema change failed: \(error)") }
                case 4:
                    // A peer's own `_schema` records: names that collide with
                    // what the store derives, a retype, an odd list.
                    let (id, field, value) = hostile[Int.random(in: 0..<hostile.count, using: &generator)]
                    let replica = ReplicaID(high: 9, low: UInt64(Int.random(in: 1...3, using: &generator)))
                    hostileCounter += 1
                    let version = Version(dot: Dot(replica: replica, counter: hostileCounter), hlc: HLC(millis: UInt64(Date().timeIntervalSince1970 * 1000), logical: 0), author: "peer", value: value)
                    let change = SlotChange(key: SlotKey(collection: SchemaEvolution.collection, record: id, field: field),
                                            state: SlotState(versions: [version], context: VersionContext([(replica, hostileCounter)])))
                    _ = try! store.apply([change], from: nil, cursor: nil)
                case 2:
                    let edits: [(String, FieldEdit)] = [("agreements/us-cn-trade-truce-2025", .set("value_usd", .text("5"))),
                                                        ("countries/cn", .set("stage", .text("a"))), ("mines/m1", .set("name", .text("M")))]
                    let (record, edit) = edits[Int.random(in: 0..<edits.count, using: &generator)]
                    if record.hasPrefix("mines") { _ = try? store.create(ref(record), [edit], author: "a") } else { _ = try? store.update(ref(record), [edit], author: "a") }
                default:
                    let from = stores[Int.random(in: 0..<3, using: &generator)]
                    if from !== store { _ = try! pull(into: store, from: from, batchSize: Int.random(in: 1...50, using: &generator)) }
                }
            }
            for _ in 0..<2 { for target in stores { for source in stores where source !== target { _ = try! pull(into: target, from: source) } } }
            let digests = try! stores.map { try $0.digest() }
            #expect(digests.allSatisfy { $0 == digests[0] })
            #expect(stores.allSatisfy { $0.schema.hash == stores[0].schema.hash })
            let tables = try! stores.map { try Self.tables($0) }
            #expect(tables.allSatisfy { $0 == tables[0] })
        }
    }
}
