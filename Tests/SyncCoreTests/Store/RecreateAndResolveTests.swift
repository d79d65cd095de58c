import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// Local write rules of replication-model §2.2 that a reading found broken.
@Suite("Re-creation and resolve of deleted records", .timeLimit(.minutes(3)))
struct RecreateAndResolveTests {
    @Test func reCreatingByImportClearsWhatTheRowDoesNotSay() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.create(ref("countries/xx"), [.set("name", .text("Old")), .set("notes", .text("old notes"))], author: "ana")
        try store.delete(ref("countries/xx"), author: "ana")
        let row = RecordRow(ref: ref("countries/xx"), cells: ["name": .scalar(.text("New"))], origin: "row 1")
        let report = try store.importRows([row], author: "ana")
        #expect(report.created == 1)
        let view = try #require(try store.record(ref("countries/xx")))
        #expect(view.exists)
        #expect(view.value("name") == .text("New"))
        #expect(view.value("notes") == .null)
    }

    @Test func reCreatingByCreateClearsOldFields() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.create(ref("countries/xx"), [.set("name", .text("Old")), .set("notes", .text("old notes"))], author: "ana")
        try store.delete(ref("countries/xx"), author: "ana")
        try store.create(ref("countries/xx"), [.set("name", .text("New"))], author: "ana")
        #expect(try store.record(ref("countries/xx"))?.value("notes") == .null)
    }

    @Test func resolvingAFieldOfADeletedRecordDoesNotBringItBack() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        let b = try dir.store("b.db")
        try a.create(ref("countries/xx"), [.set("name", .text("X"))], author: "ana")
        _ = try pull(into: b, from: a)
        try a.update(ref("countries/xx"), [.set("notes", .text("A"))], author: "ana")
        try b.update(ref("countries/xx"), [.set("notes", .text("B"))], author: "bo")
        _ = try pull(into: a, from: b)
        _ = try pull(into: b, from: a)
        // Both see the notes conflict; then b deletes the record and a learns it.
        try b.delete(ref("countries/xx"), author: "bo")
        _ = try pull(into: a, from: b)
        #expect(try a.record(ref("countries/xx"))?.exists == false)
        let key = SlotKey(collection: "countries", record: "xx", field: "notes")
        let dots = try a.slotState(key).versions.map(\.dot)
        #expect(dots.count == 2)
        #expect(throws: StoreError.recordNotFound(ref("countries/xx"))) {
            try a.resolve(key, expecting: dots, value: .text("A"), author: "ana")
        }
        #expect(try a.record(ref("countries/xx"))?.exists == false)
    }
}
