import Foundation
import Testing
@testable import SyncCore
import TestSupport

@Suite("Local writes, history and schema errors", .timeLimit(.minutes(3)))
struct LocalWriteTests {
    @Test func oneTransactionOneDot() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        let receipt = try store.create(ref("minerals/nickel"), [.set("name", .text("Nickel")), .set("category", .text("battery")),
                                                                 .add("uses", "batteries"), .add("uses", "stainless steel")], author: "ana")
        #expect(receipt.slotsWritten == 5)  // _exists, name, category, two members
        #expect(receipt.dot?.counter == 1)
        let second = try store.update(ref("minerals/nickel"), [.set("notes", .text("x"))], author: "ana")
        #expect(second.dot?.counter == 2)
        let history = try store.history(ref("minerals/nickel"))
        #expect(Set(history.filter { $0.version.dot.counter == 1 }.map(\.key.field)) == ["_exists", "name", "category", "uses"])
    }

    @Test func readsShowFieldsMembersAndExistence() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.create(ref("countries/no"), [.set("name", .text("Norway")), .set("region", .text("europe"))], author: "ana")
        try store.update(ref("countries/no"), [.set("notes", .text("seabed minerals"))], author: "ben")
        let view = try #require(try store.record(ref("countries/no")))
        #expect(view.exists)
        #expect(view.value("name") == .text("Norway"))
        #expect(view.value("notes") == .text("seabed minerals"))
        #expect(!view.isConflicted)
        try store.delete(ref("countries/no"), author: "ana")
        #expect(try store.record(ref("countries/no"))?.exists == false)
        #expect(throws: StoreError.recordNotFound(ref("countries/no"))) {
            try store.update(ref("countries/no"), [.set("notes", .text("y"))], author: "ana")
        }
    }

    @Test func recreatingWritesNullToFieldsItDoesNotSet() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.create(ref("minerals/tin"), [.set("name", .text("Tin")), .set("notes", .text("old")), .add("uses", "solder")], author: "ana")
        try store.delete(ref("minerals/tin"), author: "ana")
        try store.create(ref("minerals/tin"), [.set("name", .text("Tin")), .set("category", .text("base-metal"))], author: "ana")
        let view = try #require(try store.record(ref("minerals/tin")))
        #expect(view.value("notes") == .null)
        #expect(view.value("category") == .text("base-metal"))
        #expect(view.presentMembers("uses").isEmpty)
    }

    @Test func historyKeepsEveryVersionWithWhoWhenAndWhere() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.create(ref("sources/s1"), [.set("publisher", .text("Reuters"))], author: "ana")
        try store.update(ref("sources/s1"), [.set("publisher", .text("Reuters UK"))], author: "ben")
        try store.update(ref("sources/s1"), [.set("publisher", .text("Reuters Ltd"))], author: "cy")
        let history = try store.history(ref("sources/s1"), field: "publisher")
        #expect(history.map(\.version.value) == [.text("Reuters"), .text("Reuters UK"), .text("Reuters Ltd")])
        #expect(history.map(\.version.author) == ["ana", "ben", "cy"])
        #expect(history.map(\.isCurrent) == [false, false, true])
        #expect(Set(history.map(\.version.dot.replica)) == [try store.replicaID])
        #expect(history.allSatisfy { $0.version.hlc.millis > 0 })
    }

    @Test func schemaErrorsAreClearAndWriteNothing() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.seed(SeedData.criticalMinerals())
        let digest = try store.digest()
        let seq = try store.highestSeq()

        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        let collection = message { try store.create(ref("agreement/x"), [.set("title", .text("T"))], author: "a") }
        #expect(collection.contains("unknown collection 'agreement'") && collection.contains("Did you mean 'agreements'?"))
        let field = message { try store.update(ref("agreements/us-cn-trade-truce-2025"), [.set("stauts", .text("active"))], author: "a") }
        #expect(field.contains("no field 'stauts'") && field.contains("Did you mean 'status'?"))
        let enumeration = message { try store.update(ref("agreements/us-cn-trade-truce-2025"), [.set("status", .text("done"))], author: "a") }
        #expect(enumeration.contains("'done' is not an allowed value") && enumeration.contains("proposed, negotiating, active, suspended, expired"))
        let date = message { try store.update(ref("agreements/us-cn-trade-truce-2025"), [.set("announced", .text("2025-02-30"))], author: "a") }
        #expect(date.contains("YYYY-MM-DD"))
        let required = message { try store.create(ref("agreements/new"), [.set("status", .text("active"))], author: "a") }
        #expect(required.contains("needs 'title'"))
        let badRef = message { try store.update(ref("agreements/us-cn-trade-truce-2025"), [.add("parties", "minerals/cobalt")], author: "a") }
        #expect(badRef.contains("a reference into countries or organizations"))
        let setMisuse = message { try store.update(ref("agreements/us-cn-trade-truce-2025"), [.set("parties", .text("countries/cn"))], author: "a") }
        #expect(setMisuse.contains("is a set"))
        let badID = message { try store.create(ref("countries/a b"), [.set("name", .text("X"))], author: "a") }
        #expect(badID.contains("record id 'a b' is not valid"))
        // A valid edit after an invalid one in the same call: still nothing written.
        _ = message { try store.update(ref("agreements/us-cn-trade-truce-2025"), [.set("summary", .text("ok")), .set("status", .text("bad"))], author: "a") }

        #expect(try store.digest() == digest)
        #expect(try store.highestSeq() == seq)
    }

    @Test func referencesAreNormalizedAndDanglingOnesAllowed() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store()
        try store.create(ref("organizations/acme"), [.set("name", .text("Acme")), .set("country", .text("xx"))], author: "a")
        #expect(try store.record(ref("organizations/acme"))?.value("country") == .text("countries/xx"))
    }
}
