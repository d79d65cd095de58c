import Foundation
import Testing
import TestSupport
@testable import SyncCore
@testable import SyncWeb

/// Labels are bounded and cannot pose as something else: every page
/// fetches them with every /collections answer, and forms show them as names.
@Suite struct SchemaLabelTests {
    @Test func aLabelIsBounded() async throws {
        let app = try SchemaAPITests.App()
        let big = String(repeating: "x", count: 900_000)
        let response = try await app.send("POST", "/api/v1/schema/describe", #"{"collection": "agreements", "field": "title", "label": "\#(big)"}"#)
        #expect(response.status == 400, "a 900 KB label was accepted: \(response.status)")
        let collections = try await app.send("GET", "/api/v1/collections")
        #expect(collections.body.count < 200_000, "/collections is \(collections.body.count) bytes")
    }

    @Test func aLabelCannotImpersonateAnotherField() async throws {
        let app = try SchemaAPITests.App()
        // A label with a line break and a bidi override, and one equal to another field's name.
        let r1 = try await app.send("POST", "/api/v1/schema/describe", #"{"collection": "agreements", "field": "title", "label": "status\n\u202Eevil"}"#)
        #expect(r1.status == 400, "label with newline + RLO accepted: \(r1.status)")
    }
}
