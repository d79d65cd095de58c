import Foundation
import SyncCore

/// One HTTP request as the web app's rules see it: no sockets, no clock.
public struct WebRequest: Sendable {
    public var method: String
    /// The path, percent-decoded per segment by `Route`, as sent.
    public var path: String
    public var query: [(name: String, value: String)]
    /// Header names lowercased; a repeated header keeps its first value.
    public var headers: [String: String]
    public var body: [UInt8]
    /// The client's IP address, when the server knows it.
    public var remote: String?
    /// Whether the query string had more parameters than `QueryString.maxParameters`.
    public var tooManyParameters = false

    public init(method: String, uri: String, headers: [(String, String)], body: [UInt8] = [], remote: String? = nil) {
        self.method = method
        self.remote = remote
        // By scalar (ScalarText): `?` or `&` followed by a combining mark is one Character.
        let parts = ScalarText.splitOnce(uri, at: "?")
        path = parts?.before ?? uri
        query = parts.map { QueryString.parse($0.after) } ?? []
        tooManyParameters = (parts?.after.unicodeScalars.split(separator: "&").count ?? 0) > QueryString.maxParameters
        var map: [String: String] = [:]
        for (name, value) in headers where map[name.lowercased()] == nil { map[name.lowercased()] = value }
        self.headers = map
        self.body = body
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The last value of a query parameter.
    public func parameter(_ name: String) -> String? { query.last { $0.name == name }?.value }

    /// Whether the method may change state (needs the CSRF and origin checks).
    public var isStateChanging: Bool { !["GET", "HEAD", "OPTIONS"].contains(method) }

    /// A cookie's value from the `Cookie` header.
    public func cookie(_ name: String) -> String? {
        guard let header = header("cookie") else { return nil }
        for pair in header.split(separator: ";") {
            let trimmed = pair.trimmingCharacters(in: .whitespaces)
            guard let equals = trimmed.firstIndex(of: "=") else { continue }
            if trimmed[..<equals] == name { return String(trimmed[trimmed.index(after: equals)...]) }
        }
        return nil
    }
}

/// `application/x-www-form-urlencoded` and query strings, with limits.
public enum QueryString {
    /// Parameters read at most from one query string.
    public static let maxParameters = 64

    public static func parse(_ text: String) -> [(name: String, value: String)] {
        // By scalar (ScalarText): raw UTF-8 "&" or "=" followed by a combining
        // mark is one `Character`, and would fold two parameters into one.
        ScalarText.split(text, at: "&").filter { !$0.isEmpty }.prefix(maxParameters).map { pair in
            guard let (name, value) = ScalarText.splitOnce(pair, at: "=") else { return (decode(pair), "") }
            return (decode(name), decode(value))
        }
    }

    static func decode(_ text: String) -> String {
        let spaced = ScalarText.replacing("+", with: " ", in: text)
        return spaced.removingPercentEncoding ?? spaced
    }
}
