import Foundation

/// The web app's paths, parsed without I/O (docs/api.md lists them).
public enum Route: Equatable, Sendable {
    case page(String)
    case asset(String)
    case login
    case logout
    case session
    case schema
    /// `POST /api/v1/schema/ACTION` (`SchemaChangeBody.Action`).
    case schemaChange(action: String)
    case collections
    case records(collection: String)
    case complete(collection: String)
    case record(collection: String, id: String)
    case history(collection: String, id: String)
    case resolve(collection: String, id: String)
    case conflicts
    case changes
    case status
    case peers
    case snapshots
    case events
    case watch
    case sqlEdits
    case notFound

    /// Path segments read at most, and the longest segment: paths come from clients.
    public static let maxSegments = 8
    public static let maxSegmentBytes = 512

    public static func parse(_ path: String) -> Route {
        let raw = path.split(separator: "/", omittingEmptySubsequences: true)
        guard raw.count <= maxSegments, raw.allSatisfy({ $0.utf8.count <= maxSegmentBytes }) else { return .notFound }
        guard let segments = Optional(raw.map { String($0).removingPercentEncoding ?? String($0) }) else { return .notFound }
        switch segments.count {
        case 0: return .page("index")
        case 1 where Assets.files[segments[0]] != nil: return .asset(segments[0])
        case 1 where segments[0] == "login": return .login
        default: break
        }
        guard segments.count >= 3, segments[0] == "api", segments[1] == "v1" else { return .notFound }
        let rest = Array(segments.dropFirst(2))
        switch rest.count {
        case 1:
            switch rest[0] {
            case "session": return .session
            case "logout": return .logout
            case "schema": return .schema
            case "collections": return .collections
            case "conflicts": return .conflicts
            case "changes": return .changes
            case "status": return .status
            case "peers": return .peers
            case "snapshots": return .snapshots
            case "events": return .events
            case "watch": return .watch
            case "sql-edits": return .sqlEdits
            default: return .notFound
            }
        case 2 where rest[0].utf8.elementsEqual("schema".utf8): return .schemaChange(action: rest[1])
        case 3 where rest[0] == "collections" && rest[2] == "records": return .records(collection: rest[1])
        case 3 where rest[0] == "collections" && rest[2] == "complete": return .complete(collection: rest[1])
        case 3 where rest[0] == "records": return .record(collection: rest[1], id: rest[2])
        case 4 where rest[0] == "records" && rest[3] == "history": return .history(collection: rest[1], id: rest[2])
        case 4 where rest[0] == "records" && rest[3] == "resolve": return .resolve(collection: rest[1], id: rest[2])
        default: return .notFound
        }
    }

    /// Whether the route serves data (needs a credential).
    public var isProtected: Bool {
        switch self {
        case .page, .asset, .login, .notFound: false
        default: true
        }
    }
}
