import Foundation
import SyncCore

/// What the web app answers: status, headers and a whole body (the event
/// stream is the one response that is not whole; see `EventStream`).
public struct WebResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    public static func json<T: Encodable>(_ value: T, status: Int = 200) -> WebResponse {
        do {
            return WebResponse(status: status, headers: [("Content-Type", "application/json; charset=utf-8")],
                               body: Array(try encoder.encode(value)))
        } catch {
            return .error(500, "could not encode the answer: \(error)")
        }
    }

    /// An error: `{"error": message}` plus, for a form, messages per field.
    public static func error(_ status: Int, _ message: String, fields: [String: String] = [:], extra: [String: ConflictJSON] = [:]) -> WebResponse {
        struct Body: Encodable {
            let error: String
            let fields: [String: String]?
            let conflict: ConflictJSON?
        }
        return json(Body(error: message, fields: fields.isEmpty ? nil : fields, conflict: extra["conflict"]), status: status)
    }

    public static func text(_ status: Int, _ text: String, type: String = "text/plain; charset=utf-8") -> WebResponse {
        WebResponse(status: status, headers: [("Content-Type", type)], body: Array(text.utf8))
    }

    public static func redirect(_ location: String, headers: [(String, String)] = []) -> WebResponse {
        WebResponse(status: 303, headers: [("Location", location)] + headers)
    }
}
