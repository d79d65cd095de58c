import Foundation
import SyncCore

/// The JSON API under `/api/v1` (docs/api.md): thin handlers over the store,
/// with the same validation and messages as `syncctl`.
struct API: Sendable {
    let context: WebContext

    var store: Store { context.store }

    /// Carries the hash of the schema an answer was made with (the schema
    /// changes while the daemon runs): a page that holds another reloads it.
    static let schemaHashHeader = "X-Schema-Hash"

    func handle(_ route: Route, _ request: WebRequest, csrf: String?) async -> WebResponse {
        var response = await answer(route, request, csrf: csrf)
        if !response.headers.contains(where: { $0.0.utf8.elementsEqual(Self.schemaHashHeader.utf8) }) {
            response.headers.append((Self.schemaHashHeader, store.schema.hash))
        }
        return response
    }

    private func answer(_ route: Route, _ request: WebRequest, csrf: String?) async -> WebResponse {
        do {
            return try await dispatch(route, request, csrf: csrf)
        } catch let problems as EditBody.Problems {
            return .error(422, problems.message, fields: problems.fields)
        } catch let error as SchemaError {
            switch error {
            case .unknownCollection, .unknownField: return .error(404, error.description)
            case .missingRequired(_, let fields):
                return .error(422, error.description, fields: Dictionary(fields.map { ($0, "required: give a value") }, uniquingKeysWith: { first, _ in first }))
            case .invalidValue(let field, _, _), .notInEnum(let field, _, _), .notASet(let field), .isASet(let field):
                return .error(422, error.description, fields: [field: error.description])
            default: return .error(400, error.description)
            }
        } catch let error as StoreError {
            switch error {
            case .recordNotFound: return .error(404, error.description)
            case .recordExists(let ref): return .error(409, error.description, fields: ["id": "\(ref.id) is taken in \(ref.collection)"])
            case .fieldsChanged(_, let fields):
                return .error(409, error.description, fields: Dictionary(fields.map { ($0, "changed since the form was opened; look at the new value before saving") },
                                                                          uniquingKeysWith: { first, _ in first }))
            case .siblingsChanged, .existenceConflicted: return .error(409, error.description)
            case .valueTooLarge(let key, _, _): return .error(422, error.description, fields: [key.field: error.description])
            case .clockBehind: return .error(503, error.description)
            default: return .error(400, error.description)
            }
        } catch let error as UIError {
            return .error(400, error.description)

        } catch {
            context.logger.error("web API request failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
            return .error(500, "\(error)")
        }
    }

    private func dispatch(_ route: Route, _ request: WebRequest, csrf: String?) async throws -> WebResponse {
        switch (route, request.method) {
        case (.session, "GET"): return try await session(csrf: csrf)
        case (.schema, "GET"): return schema()
        case (.schemaChange(let action), "POST"): return try await changeSchema(action, request)
        case (.collections, "GET"): return try await collections()
        case (.records(let collection), "GET"): return try await records(collection, request)
        case (.records(let collection), "POST"): return try await create(collection, request)
        case (.complete(let collection), "GET"): return try await complete(collection, request)
        case (.record(let collection, let id), "GET"): return try await record(RecordRef(collection: collection, id: id))
        case (.record(let collection, let id), "PATCH"): return try await update(RecordRef(collection: collection, id: id), request)
        case (.record(let collection, let id), "DELETE"): return try await delete(RecordRef(collection: collection, id: id))
        case (.history(let collection, let id), "GET"): return try await history(RecordRef(collection: collection, id: id), field: request.parameter("field"))
        case (.resolve(let collection, let id), "POST"): return try await resolve(RecordRef(collection: collection, id: id), request)
        case (.conflicts, "GET"): return try await conflicts(collection: request.parameter("collection"), record: request.parameter("record"))
        case (.changes, "GET"): return try await changes(request)
        case (.status, "GET"): return .json(try await context.status())
        case (.sqlEdits, "GET"): return try await sqlEdits()
        case (.peers, "GET"): return .json(await context.registry.status())
        case (.snapshots, "GET"): return .json(Snapshots.list(in: context.snapshotsDirectory).compactMap(\.manifest))
        case (.snapshots, "POST"): return try await createSnapshot()
        default: return .error(405, "\(request.method) is not allowed on \(request.path); see docs/api.md")
        }
    }

    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await Blocking.run(body)
    }

    private func session(csrf: String?) async throws -> WebResponse {
        struct Session: Encodable {
            let csrf: String?
            let author: String
            let device: String
            let deviceID: String
            let replica: String
            let highestSeq: UInt64
            /// The version token of a field never written (see `versions`).
            let unwrittenToken: String
        }
        let store = self.store
        let (replica, device) = try await blocking { (try store.replicaID.hex, try store.deviceID ?? "") }
        let identity = context.identity()
        return .json(Session(csrf: csrf, author: identity.author, device: identity.deviceName, deviceID: device, replica: replica,
                             highestSeq: context.notifier.highestSeq, unwrittenToken: Store.unwrittenToken))
    }

    private func collections() async throws -> WebResponse {
        struct Collection: Encodable {
            let name: String
            let description: String?
            let records: Int
            let titleField: String?
            let fields: [FieldSchema]
        }
        let store = self.store
        let counts = try await blocking { try store.recordCounts() }
        // One read of the schema: the collections and the hash they carry agree.
        let schema = store.schema
        var response = WebResponse.json(schema.tableCollections.map {
            Collection(name: $0.name, description: $0.description, records: counts[$0.name] ?? 0, titleField: $0.titleField, fields: $0.fields)
        })
        response.headers.append((Self.schemaHashHeader, schema.hash))
        return response
    }

    /// `where=FIELD=VALUE` (repeatable), `q`, `sort`, `order=desc`, `conflicted=1`, `after`, `limit`.
    static func pageQuery(_ collection: String, _ request: WebRequest, schema: Schema) throws -> RecordPageQuery {
        let collectionSchema = try schema.requireCollection(collection)
        var query = RecordPageQuery(collection: collection)
        for filter in request.query where filter.name == "where" {
            guard let (name, text) = ScalarText.splitOnce(filter.value, at: "=") else { throw UIError("where takes FIELD=VALUE, got '\(filter.value)'") }
            let field = try collectionSchema.requireField(name)
            // FIELD= on a set keeps records with no members (.null), as on a scalar.
            query.filters.append((name, field.isSet ? (text.isEmpty ? .null : .text(try field.validateMember(text))) : try field.parse(text)))
        }
        query.search = request.parameter("q")
        query.sort = request.parameter("sort").flatMap { $0.isEmpty ? nil : $0 }
        query.descending = request.parameter("order") == "desc"
        query.conflictedOnly = request.parameter("conflicted") == "1"
        query.after = request.parameter("after").flatMap { $0.isEmpty ? nil : $0 }
        if let limit = request.parameter("limit") {
            guard let number = Int(limit), number > 0 else { throw UIError("limit must be a positive number, got '\(limit)'") }
            query.limit = min(number, RecordPageQuery.maxLimit)
        }
        return query
    }

    private func records(_ collection: String, _ request: WebRequest) async throws -> WebResponse {
        let store = self.store
        let query = try Self.pageQuery(collection, request, schema: store.schema)
        let fields = try store.schema.requireCollection(collection).fields
        let page = try await blocking { try store.page(query) }
        return WebResponse(status: 200, headers: [("Content-Type", "application/json; charset=utf-8")],
                           body: JSONWriter.page(collection: collection, records: page.records, fields: fields, next: page.next))
    }

    private func complete(_ collection: String, _ request: WebRequest) async throws -> WebResponse {
        struct Match: Encodable { let ref: String; let title: String? }
        let store = self.store
        let prefix = ScalarText.prefix(request.parameter("prefix") ?? "", maxBytes: RecordPageQuery.maxSearchBytes)
        let matches = try await blocking { try store.complete(collection, prefix: prefix, limit: 20) }
        return .json(matches.map { Match(ref: "\(collection)/\($0.id)", title: $0.title) })
    }

    private func record(_ ref: RecordRef) async throws -> WebResponse {
        struct Detail: Encodable {
            let record: RecordJSON
            /// Titles of the records this one refers to, by `collection/id`.
            let titles: [String: String]
            let referrers: [Referrer]
            let tokens: [String: String]
            /// Per scalar field, the token of its live versions: send it back
            /// as `expect` with an edit to refuse it if the field changed.
            let versions: [String: String]

            struct Referrer: Encodable { let ref: String; let field: String; let title: String? }
        }
        let store = self.store
        let collection = try store.schema.requireCollection(ref.collection)
        return try await blocking {
            guard let (view, versions) = try store.recordForEditing(ref) else { throw StoreError.recordNotFound(ref) }
            let devices = try store.knownDevices()
            var targets: [RecordRef] = []
            for field in collection.fields {
                if field.type == .ref, case .text(let text) = view.value(field.name), let target = RecordRef(parsing: text) { targets.append(target) }
                if field.isSet, field.of == .ref { targets += view.presentMembers(field.name).compactMap(RecordRef.init(parsing:)) }
            }
            let referrers = try store.referrers(to: ref)
            let titles = try store.titles(of: targets + referrers.map(\.ref))
            let conflicts = try store.conflicts(in: ref.collection, record: ref.id)
            return .json(Detail(record: RecordJSON(view, schema: collection, devices: devices),
                                // Keys that differ in bytes but compare equal as Swift strings
                                // (NFC and NFD ids from peers) must not trap: the first is kept.
                                titles: Dictionary(titles.map { ($0.key.description, $0.value) }, uniquingKeysWith: { first, _ in first }),
                                referrers: referrers.map { .init(ref: $0.ref.description, field: $0.field, title: titles[$0.ref]) },
                                // The schema's fields and `_exists`, as `record.conflicts`: a
                                // peer's unknown fields are resolved from the conflicts inbox,
                                // whose list keeps look-alike names apart.
                                tokens: Dictionary(conflicts.filter { UTF8Identity.equal($0.key.field, SlotKey.existsField) || collection.field($0.key.field) != nil }
                                    .map { ($0.key.field, $0.token) }, uniquingKeysWith: { first, _ in first }),
                                versions: versions))
        }
    }

    private func written(_ verb: String, _ ref: RecordRef, _ receipt: WriteReceipt?) async -> WebResponse {
        _ = try? await context.notifier.checkForeignWrites()
        context.logger.info("web app: \(verb) \(ref)", metadata: ["author": "\(context.identity().author)", "slots": "\(receipt?.slotsWritten ?? 0)"])
        return await (try? record(ref)) ?? .json(["ok": true])
    }

    private func create(_ collection: String, _ request: WebRequest) async throws -> WebResponse {
        let body = try EditBody.decode(request.body)
        guard let id = body.id, !id.isEmpty else { throw EditBody.Problems(fields: ["id": "give the new record's id"]) }
        do { try RecordIDRule.check(id) } catch { throw EditBody.Problems(fields: ["id": "\(error)"]) }
        let ref = RecordRef(collection: collection, id: id)
        let edits = try body.edits(for: try store.schema.requireCollection(collection))
        let store = self.store, author = context.identity().author
        // Checked inside the write: `create` alone re-creates, clearing
        // every field not given; the app only creates what does not exist.
        let receipt = try await blocking { try store.create(ref, edits, author: author, onlyIfAbsent: true) }
        var response = await written("created", ref, receipt)
        response.status = 201
        return response
    }

    private func update(_ ref: RecordRef, _ request: WebRequest) async throws -> WebResponse {
        let body = try EditBody.decode(request.body)
        let collection = try store.schema.requireCollection(ref.collection)
        let edits = try body.edits(for: collection)
        let store = self.store, author = context.identity().author
        // The version tokens are checked inside the write transaction.
        let expected = body.expect ?? [:]
        let receipt = try await blocking { try store.update(ref, edits, author: author, expecting: expected) }
        return await written("updated", ref, receipt)
    }

    private func delete(_ ref: RecordRef) async throws -> WebResponse {
        _ = try store.schema.requireCollection(ref.collection)
        let store = self.store, author = context.identity().author
        let receipt = try await blocking { try store.delete(ref, author: author) }
        return await written("deleted", ref, receipt)
    }

    private func history(_ ref: RecordRef, field: String?) async throws -> WebResponse {
        let collection = try store.schema.requireCollection(ref.collection)
        let store = self.store
        return try await blocking {
            let entries = try store.history(ref, field: field)
            if entries.isEmpty, try store.record(ref) == nil { throw StoreError.recordNotFound(ref) }
            // A peer's field the schema does not know has a history too; a name with none is a typo.
            if entries.isEmpty, let field, field != SlotKey.existsField { _ = try collection.requireField(field) }
            return .json(HistoryJSON(record: ref, entries: entries, devices: try store.knownDevices()))
        }
    }

    /// SQL edits of the tables: counts, and the refused ones with their reasons (docs/sql.md).
    private func sqlEdits() async throws -> WebResponse {
        let store = self.store
        return try await blocking {
            let counts = try store.sqlEditCounts()
            return .json(SQLEditsJSON(pending: counts.pending, refused: counts.refused,
                                      edits: try store.sqlEdits(refusedOnly: true, limit: 200).map { SQLEditJSON($0, schema: store.schema) }))
        }
    }

    struct SQLEditsJSON: Encodable {
        let pending: Int
        let refused: Int
        let edits: [SQLEditJSON]
    }

    private func conflicts(collection: String?, record: String?) async throws -> WebResponse {
        if let collection { _ = try store.schema.requireCollection(collection) }
        let store = self.store
        return try await blocking {
            let devices = try store.knownDevices()
            return .json(try store.conflicts(in: collection, record: record).map { ConflictJSON($0, devices: devices) })
        }
    }

    private func resolve(_ ref: RecordRef, _ request: WebRequest) async throws -> WebResponse {
        let body: ResolveBody
        do { body = try JSONDecoder().decode(ResolveBody.self, from: Data(request.body)) } catch {
            throw UIError("the body is not the JSON expected ({\"field\": ..., \"token\": ..., \"pick\": N} or \"value\": ...): \(error)")
        }
        let collection = try store.schema.requireCollection(ref.collection)
        let key = SlotKey(collection: ref.collection, record: ref.id, field: body.field)
        let store = self.store, author = context.identity().author
        let outcome: Result<Value, StaleResolution> = try await blocking {
            // A peer's field this schema does not know may hold a conflict
            // too, settled by picking (`syncctl resolve` does the same).
            guard let conflict = try store.conflict(at: key) else {
                if body.field != SlotKey.existsField { _ = try collection.requireField(body.field) }
                throw StoreError.notConflicted(key)
            }
            guard RequestGuard.constantTimeEqual(body.token, conflict.token) else { return .failure(StaleResolution(conflict: conflict)) }
            let value: Value
            do {
                value = try ResolutionChoice.value(for: conflict, pick: body.pick, typed: body.value?.value, schema: collection)
            } catch let error as SchemaError {
                throw EditBody.Problems(fields: [body.field: error.description])
            }
            do {
                _ = try store.resolve(key, expecting: conflict.siblings.map(\.dot), value: value, author: author)
            } catch StoreError.siblingsChanged {
                guard let now = try store.conflict(at: key) else { throw StoreError.notConflicted(key) }
                return .failure(StaleResolution(conflict: now))
            }
            return .success(value)
        }
        switch outcome {
        case .success(let value):
            context.logger.info("web app: resolved \(key)", metadata: ["value": "\(value)", "author": "\(author)"])
            return await written("resolved \(body.field) of", ref, nil)
        case .failure(let stale):
            let devices = (try? await blocking { try store.knownDevices() }) ?? [:]
            return .error(409, "the conflicting versions of \(key) changed since they were shown; nothing was written. Look at them again and decide.",
                          extra: ["conflict": ConflictJSON(stale.conflict, devices: devices)])
        }
    }

    struct StaleResolution: Error { let conflict: SlotConflict }


    private func changes(_ request: WebRequest) async throws -> WebResponse {
        var filter = ChangeFilter()
        if let text = request.parameter("before_seq") {
            guard let seq = UInt64(text) else { throw UIError("before_seq must be a number, got '\(text)'") }
            filter.beforeSeq = seq
        }
        if let text = request.parameter("since_seq") {
            guard let seq = UInt64(text) else { throw UIError("since_seq must be a number, got '\(text)'") }
            filter.sinceSeq = seq
        }
        if let text = request.parameter("since") {
            guard let date = ISO8601DateFormatter().date(from: text) else { throw UIError("since must be an ISO 8601 time such as 2026-12-01T09:00:00Z, got '\(text)'") }
            filter.since = date
        }
        filter.author = request.parameter("author").flatMap { $0.isEmpty ? nil : $0 }
        filter.collection = request.parameter("collection").flatMap { $0.isEmpty ? nil : $0 }
        if let collection = filter.collection { _ = try store.schema.requireCollection(collection) }
        if let limit = request.parameter("limit") {
            guard let number = Int(limit), number > 0 else { throw UIError("limit must be a positive number, got '\(limit)'") }
            filter.limit = number
        }
        let store = self.store
        let device = request.parameter("device").flatMap { $0.isEmpty ? nil : $0 }
        let requested = filter
        return try await blocking {
            var filter = requested
            let devices = try store.knownDevices()
            if let device {
                // A device is named by its ID; every replica bound to it counts,
                // and for this device also the ids it had before a restore or copy.
                var replicas = devices.filter { Array($0.value.utf8) == Array(device.utf8) }.map(\.key)
                if let own = try store.deviceID, Array(own.utf8) == Array(device.utf8) {
                    replicas += try store.replicaLog().map(\.replica)
                }
                filter.replicas = replicas
            }
            let found = try store.recentChanges(filter)
            return .json(ChangesJSON(changes: found.changes.map { ChangeJSON($0, devices: devices) }, truncated: found.truncated,
                                     more: found.more, nextBefore: found.more ? found.changes.last?.seq : nil))
        }
    }

    private func createSnapshot() async throws -> WebResponse {
        // Each snapshot is a whole copy of the database: one at a time, and
        // not more often than `SnapshotThrottle.minimumInterval`.
        guard context.snapshotThrottle.begin() else {
            return .error(429, "a snapshot was taken less than \(Int(SnapshotThrottle.minimumInterval)) s ago or is being taken; try again later")
        }
        defer { context.snapshotThrottle.end() }
        let store = self.store
        let url = context.snapshotsDirectory.appendingPathComponent(Snapshots.defaultName())
        let manifest = try await blocking { try Snapshots.create(from: store, to: url) }
        context.logger.info("web app: snapshot taken", metadata: ["file": "\(url.path)"])
        return .json(manifest, status: 201)
    }
}

/// `GET /changes`: the changes, newest first; `more` when older matching
/// changes remain (ask again with `before_seq` = the oldest seq shown);
/// `truncated` when the scan stopped at its row limit before reaching them all.
struct ChangesJSON: Encodable, Sendable {
    let changes: [ChangeJSON]
    let truncated: Bool
    let more: Bool
    /// `before_seq` for the next page back (the smallest seq on this one).
    let nextBefore: UInt64?
}

/// One applied change as the API and the event stream show it.
struct ChangeJSON: Encodable, Sendable {
    let record: String
    let collection: String
    let id: String
    let field: String
    let member: String?
    let seq: UInt64
    let version: VersionJSON

    init(_ change: AppliedChange, devices: [ReplicaID: String]) {
        record = change.ref.description
        collection = change.ref.collection
        id = change.ref.id
        field = change.field
        member = change.element.isEmpty ? nil : change.element
        seq = change.seq
        version = VersionJSON(change.version, devices: devices)
    }
}
