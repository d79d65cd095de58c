import Crypto
import Foundation
import Logging
import Synchronization
import Testing
import TestSupport
@testable import SyncCore
@testable import SyncWeb

/// `GET /api/v1/schema`, `POST /api/v1/schema/ACTION` and the event stream's
/// `schema` event, against a real store, without sockets (`WebApp.respond`).
@Suite struct SchemaAPITests {
    /// A web app over a fresh store, as the daemon builds it, with its API key.
    struct App {
        let root = TemporaryDirectory("syncweb-schema")
        let store: Store
        let notifier: ChangeNotifier
        let app: WebApp
        let key: String
        let host = ("Host", "127.0.0.1:22880")

        init() throws {
            store = try Store(path: root.path("data.db"))
            notifier = try ChangeNotifier(store: store, sqlEdits: SQLEditTakeUp(store: store, author: { "ana" }, logger: Logger(label: "test")))
            let credentials = UICredentials(directory: DataDirectory(url: root.url))
            key = try credentials.apiKey()
            let context = WebContext(store: store, notifier: notifier, registry: PeerRegistry(), identity: { ("ana", "ana-laptop") },
                                     status: { throw UIError("no daemon in this test") }, snapshotsDirectory: root.url.appendingPathComponent("snapshots"),
                                     credentials: credentials, logger: Logger(label: "test"))
            app = WebApp(context: context, address: HostPort(host: "127.0.0.1", port: 22880), boundPort: 22880, mode: .loopbackHTTP,
                         sessions: LockedSessionBook(key: SymmetricKey(size: .bits256)))
        }

        func send(_ method: String, _ path: String, _ body: String? = nil, headers: [(String, String)]? = nil) async throws -> WebResponse {
            var all = headers ?? [("Authorization", "Bearer \(key)")]
            all.append(host)
            if body != nil { all.append(("Content-Type", "application/json")) }
            guard case .response(let response) = await app.respond(to: WebRequest(method: method, uri: path, headers: all, body: Array((body ?? "").utf8))) else {
                Issue.record("\(method) \(path) did not answer with a response")
                return WebResponse(status: 0)
            }
            return response
        }
    }

    func json(_ response: WebResponse) throws -> Any { try JSONSerialization.jsonObject(with: Data(response.body)) }
    func object(_ response: WebResponse) throws -> [String: Any] { try #require(try json(response) as? [String: Any]) }
    func text(_ response: WebResponse) -> String { String(decoding: response.body, as: UTF8.self) }
    func header(_ response: WebResponse, _ name: String) -> String? { response.headers.first { $0.0.lowercased() == name.lowercased() }?.1 }

    func fields(of collection: String, in response: WebResponse) throws -> [[String: Any]] {
        let collections = try #require(try json(response) as? [[String: Any]])
        let found = try #require(collections.first { $0["name"] as? String == collection })
        return try #require(found["fields"] as? [[String: Any]])
    }

    @Test func theSchemaIsTheEffectiveOneWithItsHashAndWithheldDefinitions() async throws {
        let app = try App()
        let response = try await app.send("GET", "/api/v1/schema")
        #expect(response.status == 200, "\(text(response))")
        let body = try object(response)
        #expect(body["hash"] as? String == app.store.schema.hash)
        #expect(header(response, "X-Schema-Hash") == app.store.schema.hash)
        let names = try #require(body["collections"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(names == app.store.schema.tableCollections.map(\.name))
        #expect(!names.contains(SchemaEvolution.collection))
        #expect((body["withheld"] as? [Any])?.isEmpty == true)
    }

    @Test func aFieldAddedThroughTheAPIIsWrittenByTheConfiguredAuthorAndServedAtOnce() async throws {
        let app = try App()
        let before = try await app.send("GET", "/api/v1/collections")
        let oldHash = try #require(header(before, "X-Schema-Hash"))
        let added = try await app.send("POST", "/api/v1/schema/add-field",
                                       #"{"collection": "agreements", "field": "value_usd", "type": "decimal", "description": "Headline value in USD"}"#)
        #expect(added.status == 200, "\(text(added))")
        let answer = try object(added)
        #expect(answer["changed"] as? Bool == true)
        #expect(answer["record"] as? String == "_schema/f.agreements.value_usd")
        #expect(answer["hash"] as? String == app.store.schema.hash && app.store.schema.hash != oldHash)
        let history = try app.store.history(RecordRef(collection: SchemaEvolution.collection, id: "f.agreements.value_usd"))
        #expect(!history.isEmpty && history.allSatisfy { $0.version.author == "ana" })

        let after = try await app.send("GET", "/api/v1/collections")
        #expect(header(after, "X-Schema-Hash") == app.store.schema.hash)
        let field = try #require(try fields(of: "agreements", in: after).first { $0["name"] as? String == "value_usd" })
        #expect(field["type"] as? String == "decimal" && field["description"] as? String == "Headline value in USD")
        // Every answer says which schema it was made with.
        #expect(header(try await app.send("GET", "/api/v1/conflicts"), "X-Schema-Hash") == app.store.schema.hash)
        // The new field takes values at once.
        let edit = try await app.send("POST", "/api/v1/collections/agreements/records",
                                      #"{"id": "new-deal", "fields": {"title": "A new deal", "value_usd": "12.50"}}"#)
        #expect(edit.status == 201, "\(text(edit))")
        #expect(try app.store.record(RecordRef(collection: "agreements", id: "new-deal"))?.value("value_usd") == .text("12.50"))

        // A collection, an enum field in it, one more value, a label, a description of the collection.
        for (action, body) in [("add-collection", #"{"collection": "mines", "description": "Mines and deposits"}"#),
                               ("add-field", #"{"collection": "mines", "field": "stage", "type": "enum", "values": ["producing", "exploration"]}"#),
                               ("add-field", #"{"collection": "mines", "field": "country", "type": "ref", "targets": ["countries"]}"#),
                               ("add-target", #"{"collection": "mines", "field": "country", "target": "organizations"}"#),
                               ("add-value", #"{"collection": "mines", "field": "stage", "value": "care-and-maintenance"}"#),
                               ("describe", #"{"collection": "agreements", "field": "value_usd", "label": "Value (USD)"}"#),
                               ("describe", #"{"collection": "mines", "description": "Mines, deposits and projects"}"#)] {
            let response = try await app.send("POST", "/api/v1/schema/\(action)", body)
            #expect(response.status == 200, "\(action): \(text(response))")
        }
        let mines = try #require(app.store.schema.collection("mines"))
        #expect(mines.description == "Mines, deposits and projects")
        #expect(mines.field("stage")?.values == ["exploration", "producing", "care-and-maintenance"])
        #expect(mines.field("country")?.targets == ["countries", "organizations"])
        #expect(app.store.schema.collection("agreements")?.field("value_usd")?.label == "Value (USD)")
        let schema = try object(try await app.send("GET", "/api/v1/schema"))
        #expect(try #require(schema["collections"] as? [[String: Any]]).contains { $0["name"] as? String == "mines" })
    }

    @Test func aRefusedChangeIsA400WithTheStoresReason() async throws {
        let app = try App()
        let hash = app.store.schema.hash
        let retype = try await app.send("POST", "/api/v1/schema/add-field", #"{"collection": "agreements", "field": "title", "type": "integer"}"#)
        #expect(retype.status == 400)
        let message = try #require(try object(retype)["error"] as? String)
        #expect(message.contains("schema change refused") && message.contains("a type is never changed"), "\(message)")
        let known = try await app.send("POST", "/api/v1/schema/add-value", #"{"collection": "agreements", "field": "status", "value": "active"}"#)
        #expect(known.status == 400 && text(known).contains("allowed already"), "\(text(known))")
        let required = try await app.send("POST", "/api/v1/schema/deprecate-field", #"{"collection": "agreements", "field": "title"}"#)
        #expect(required.status == 400 && text(required).contains("required"), "\(text(required))")
        let badType = try await app.send("POST", "/api/v1/schema/add-field", #"{"collection": "agreements", "field": "x", "type": "money"}"#)
        #expect(badType.status == 400 && text(badType).contains("is not a type"), "\(text(badType))")
        // Unknown names are 404s, as everywhere in the API; a missing part and bad JSON are 400s.
        let unknown = try await app.send("POST", "/api/v1/schema/add-field", #"{"collection": "agreement", "field": "x", "type": "text"}"#)
        #expect(unknown.status == 404 && text(unknown).contains("Did you mean 'agreements'"), "\(text(unknown))")
        let missing = try await app.send("POST", "/api/v1/schema/add-field", #"{"collection": "agreements", "field": "x"}"#)
        #expect(missing.status == 400 && text(missing).contains(#"add-field needs \"type\""#), "\(text(missing))")
        #expect(try await app.send("POST", "/api/v1/schema/add-field", "not json").status == 400)
        let action = try await app.send("POST", "/api/v1/schema/rename-field", "{}")
        #expect(action.status == 404 && text(action).contains("add-collection, add-field"), "\(text(action))")
        // The action is matched byte for byte.
        #expect(try await app.send("POST", "/api/v1/schema/ADD-FIELD", "{}").status == 404)
        #expect(try await app.send("GET", "/api/v1/schema/add-field").status == 405)
        #expect(app.store.schema.hash == hash)
    }

    @Test func aBrowserSessionNeedsItsCSRFTokenAndOurOrigin() async throws {
        let app = try App()
        let cookie = app.app.sessions.openSession()
        let csrf = try #require(app.app.sessions.csrf(forCookie: cookie))
        let session = ("Cookie", "\(app.app.cookieName)=\(cookie)")
        let body = #"{"collection": "countries", "field": "capital", "type": "text"}"#
        let noToken = try await app.send("POST", "/api/v1/schema/add-field", body, headers: [session, ("Origin", "http://127.0.0.1:22880")])
        #expect(noToken.status == 403)
        let foreign = try await app.send("POST", "/api/v1/schema/add-field", body,
                                         headers: [session, ("Origin", "http://evil.example"), ("X-CSRF-Token", csrf)])
        #expect(foreign.status == 403)
        #expect(try await app.send("POST", "/api/v1/schema/add-field", body, headers: []).status == 401)
        #expect(app.store.schema.collection("countries")?.field("capital") == nil)
        let good = try await app.send("POST", "/api/v1/schema/add-field", body,
                                      headers: [session, ("Origin", "http://127.0.0.1:22880"), ("X-CSRF-Token", csrf)])
        #expect(good.status == 200, "\(text(good))")
        #expect(app.store.schema.collection("countries")?.field("capital") != nil)
    }

    @Test func aDeprecatedFieldIsMarkedAndItsDataStaysReadable() async throws {
        let app = try App()
        _ = try app.store.create(RecordRef(collection: "countries", id: "mn"), [.set("name", .text("Mongolia")), .set("role", .text("supplier"))], author: "ana")
        let deprecated = try await app.send("POST", "/api/v1/schema/deprecate-field", #"{"collection": "countries", "field": "role"}"#)
        #expect(deprecated.status == 200, "\(text(deprecated))")
        let role = try #require(try fields(of: "countries", in: try await app.send("GET", "/api/v1/collections")).first { $0["name"] as? String == "role" })
        #expect(role["deprecated"] as? Bool == true)
        let record = try object(try await app.send("GET", "/api/v1/records/countries/mn"))
        #expect(((record["record"] as? [String: Any])?["fields"] as? [String: Any])?["role"] as? String == "supplier")
        // Its data still filters and reads through the API.
        let page = try await app.send("GET", "/api/v1/collections/countries/records?where=role=supplier")
        #expect(page.status == 200 && text(page).contains("\"mn\""), "\(text(page))")
    }

    @Test func theEventStreamSaysWhenTheSchemaChangesHereOrInAnotherProcess() async throws {
        let app = try App()
        let sink = EventSink()
        let stream = EventStream(context: app.app.context)
        let task = Task {
            try await stream.run(resumeAfter: nil, stillAuthorized: { sink.running.load(ordering: .relaxed) }) { text in
                sink.events.withLock { $0.append(text) }
            }
        }
        let poll = Task { await app.notifier.pollForeignWrites(every: .milliseconds(50), logger: Logger(label: "test")) }
        defer { sink.running.store(false, ordering: .relaxed); poll.cancel() }
        func waitFor(_ needle: String) async throws -> Bool {
            for _ in 0..<100 {
                if sink.text.contains(needle) { return true }
                try await Task.sleep(for: .milliseconds(50))
            }
            return false
        }
        #expect(try await waitFor(#""schema":"\#(app.store.schema.hash)""#), "hello carries the hash: \(sink.text)")

        // A change through the API.
        #expect(try await app.send("POST", "/api/v1/schema/add-field", #"{"collection": "minerals", "field": "symbol", "type": "text"}"#).status == 200)
        #expect(try await waitFor("event: schema\ndata: {\"hash\":\"\(app.store.schema.hash)\"}"), "\(sink.text)")

        // A change by another process on the same file (`syncctl schema`), taken up by the daemon's poll.
        let other = try Store(path: app.root.path("data.db"))
        _ = try other.changeSchema(.addField(collection: "minerals", field: "atomic_number", type: "integer", values: [], targets: [], description: nil), author: "bo")
        let expected = other.schema.hash
        #expect(try await waitFor("event: schema\ndata: {\"hash\":\"\(expected)\"}"), "\(sink.text)")
        #expect(app.store.schema.collection("minerals")?.field("atomic_number") != nil)
        sink.running.store(false, ordering: .relaxed)
        _ = try? await task.value
    }

    final class EventSink: Sendable {
        let events = Mutex<[String]>([])
        let running = Atomic<Bool>(true)
        var text: String { events.withLock { $0.joined() } }
    }

    @Test func bodiesBecomeTheChangesSyncctlMakes() throws {
        #expect(SchemaChangeBody.Action(segment: "add-field") == .addField)
        #expect(SchemaChangeBody.Action(segment: "add\u{2011}field") == nil)
        #expect(SchemaChangeBody.Action(segment: "describe\u{0}") == nil)
        let body = SchemaChangeBody(collection: "mines", field: "stage", type: "enum", values: ["a", "b"])
        #expect(try body.change(.addField) == .addField(collection: "mines", field: "stage", type: "enum", values: ["a", "b"], targets: [], description: nil))
        #expect(try SchemaChangeBody(collection: "mines", field: "", description: "d").change(.describe) == .describe(collection: "mines", field: nil, label: nil, description: "d"))
        #expect(throws: UIError.self) { try SchemaChangeBody(field: "x").change(.deprecateField) }
        #expect(Route.parse("/api/v1/schema/add-value") == .schemaChange(action: "add-value"))
        #expect(Route.parse("/api/v1/schema") == .schema)
    }
}
