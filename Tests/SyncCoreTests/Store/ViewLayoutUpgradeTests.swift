import Foundation
import GRDB
import Testing
@testable import SyncCore
import TestSupport

/// Opening a store whose view tables were laid out by an older build.
@Suite struct ViewLayoutUpgradeTests {
    /// Older builds let SQLite convert a value of another type than its
    /// field (text in an INTEGER column), and SQLite's conversion of long
    /// numbers differs between its versions: such a row drifts from what
    /// every replica writes now, and joiners refuse a snapshot holding it.
    /// Opening moves the layout up and rewrites the rows of the records a
    /// schema problem names, once; other rows are not touched.
    @Test(arguments: [true, false]) func rowsOfRecordsWithSchemaProblemsAreRewrittenWhenTheLayoutMovesUp(withToken: Bool) throws {
        let dir = TemporaryDirectory()
        let other = ReplicaID(high: 9, low: 7)
        do {
            let store = try dir.store("old.db")
            try store.changeSchema(.addField(collection: "countries", field: "rank", type: "integer", values: [], targets: [], description: nil), author: "t")
            var counter: UInt64 = 0
            let changes = [("typed", SlotKey.existsField, Value.bool(true)), ("typed", "name", .text("Typed")), ("typed", "rank", .text("9007199254740993"))]
                .map { record, field, value in
                    counter += 1
                    let version = Version(dot: Dot(replica: other, counter: counter), hlc: HLC(millis: 1_000, logical: 0), author: "x", value: value)
                    return SlotChange(key: SlotKey(collection: "countries", record: record, field: field), state: SlotMerge.write(version, over: .empty))
                }
            _ = try store.apply(changes, from: other)
            try store.create(RecordRef(collection: "countries", id: "plain"), [.set("name", .text("Plain"))], author: "t")
            try store.create(RecordRef(collection: "countries", id: "local"), [.set("name", .text("Local"))], author: "t")
            #expect(try store.schemaProblems().count == 1)
        }
        // What an older build left: the cell as a real (rounded), the layout 3.
        let queue = try DatabaseQueue(path: dir.path("old.db"))
        try queue.write { db in
            for trigger in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'countries'") {
                try db.execute(sql: "DROP TRIGGER \(trigger.quotedDatabaseIdentifier)")
            }
            try db.execute(sql: "UPDATE countries SET rank = 9007199254740992.0 WHERE id = 'typed'")
            try db.execute(sql: "UPDATE countries SET notes = 'edited by hand' WHERE id = 'plain'")
            // A real in an INTEGER column of a record no problem names (a
            // local value of a field retyped since).
            try db.execute(sql: "UPDATE countries SET rank = 2.5 WHERE id = 'local'")
            if withToken {
                try db.execute(sql: "UPDATE sync_meta SET value = '3' || substr(value, instr(value, ':')) WHERE key = 'views_layout'")
            } else {
                try db.execute(sql: "DELETE FROM sync_meta WHERE key = 'views_layout'")
            }
        }
        try queue.close()
        let store = try dir.store("old.db")
        let cells = try store.read { db in
            try Row.fetchOne(db, sql: "SELECT typeof(rank), rank FROM countries WHERE id = 'typed'").map { [$0[0] as String, String(describing: $0[1] as DatabaseValue)] }
        }
        #expect(cells == ["integer", "9007199254740993"])
        #expect(try store.read { try DatabaseValue.fetchOne($0, sql: "SELECT rank FROM countries WHERE id = 'local'") } == .null)
        let drift = try store.viewDrift()
        #expect(drift.drift.map(\.ref) == [RecordRef(collection: "countries", id: "plain")], "only the row no schema problem names still drifts: \(drift.drift)")
    }
}
