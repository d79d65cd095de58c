import Foundation
import SyncCore

/// `GET /api/v1/schema` and `POST /api/v1/schema/ACTION`: the effective
/// schema, and the changes `syncctl schema` makes, written through
/// `Store.changeSchema` by the configured author (docs/api.md).
extension API {
    /// The effective schema (seed plus the team's additions) with the
    /// definitions withheld on this replica.
    func schema() -> WebResponse {
        SchemaJSON(store.schema, withheld: store.schemaDefinitionProblems).response
    }

    /// One additive change; a refusal is the store's, with what to do instead.
    func changeSchema(_ segment: String, _ request: WebRequest) async throws -> WebResponse {
        guard let action = SchemaChangeBody.Action(segment: segment) else {
            return .error(404, "no schema change named '\(segment)': use \(SchemaChangeBody.Action.list); see docs/api.md")
        }
        let change = try SchemaChangeBody.decode(request.body).change(action)
        let store = self.store, author = context.identity().author
        let (receipt, writes) = try await blocking { try store.changeSchema(change, author: author) }
        // The event stream wakes for the new seq and tells every page.
        _ = try? await context.notifier.checkForeignWrites()
        let record = "\(SchemaEvolution.collection)/\(writes.record)"
        context.logger.info("web app: changed the schema", metadata: ["change": "\(action.rawValue)", "record": "\(record)",
                                                                      "author": "\(author)", "slots": "\(receipt.slotsWritten)"])
        let withheld = store.schemaDefinitionProblems.filter { $0.record.utf8.elementsEqual(writes.record.utf8) }
        let message = receipt.slotsWritten == 0 ? "nothing to change: the schema says so already"
            : "changed the schema (\(record)); it reaches peers like any edit"
        return .json(SchemaChangeJSON(changed: receipt.slotsWritten > 0, record: record, slotsWritten: receipt.slotsWritten, message: message,
                                      hash: store.schema.hash, withheld: withheld.map(WithheldJSON.init)))
    }
}

/// `GET /schema`: the collections with a table (`_schema` itself is left
/// out), the hash peers compare, and what is withheld.
struct SchemaJSON: Encodable, Sendable {
    let name: String
    let version: Int
    let hash: String
    let collections: [CollectionSchema]
    let withheld: [WithheldJSON]

    init(_ schema: Schema, withheld: [SchemaEvolution.Problem]) {
        name = schema.name
        version = schema.version
        hash = schema.hash
        collections = schema.tableCollections
        self.withheld = withheld.map(WithheldJSON.init)
    }

    var response: WebResponse {
        var response = WebResponse.json(self)
        response.headers.append((API.schemaHashHeader, hash))
        return response
    }
}

/// A `_schema` definition this replica cannot use as it stands; its data is kept.
struct WithheldJSON: Encodable, Sendable {
    /// `_schema/c.COLLECTION` or `_schema/f.COLLECTION.FIELD`.
    let record: String
    let field: String?
    let reason: String
    /// Concurrent definitions that disagree: resolve them like any conflict.
    let conflict: Bool
    /// One line: the record, the field and the reason.
    let message: String

    init(_ problem: SchemaEvolution.Problem) {
        record = "\(SchemaEvolution.collection)/\(problem.record)"
        field = problem.field
        reason = problem.reason
        conflict = problem.isConflict
        message = problem.description
    }
}

/// The answer to a schema change.
struct SchemaChangeJSON: Encodable, Sendable {
    /// False when the schema said so already (nothing was written).
    let changed: Bool
    let record: String
    let slotsWritten: Int
    let message: String
    /// The schema hash after the change.
    let hash: String
    /// Problems of the changed definition on this replica (normally none).
    let withheld: [WithheldJSON]
}
