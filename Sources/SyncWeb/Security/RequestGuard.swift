import Foundation

/// The web app's access rules, as one pure function of the request and what
/// the server knows (docs/api.md, "Security"). No I/O, no clock.
public struct RequestGuard: Sendable {
    /// The `Host` values this server answers to (lowercased `host:port`).
    public let allowedHosts: [String]
    /// The origins a state-changing request may come from (`scheme://host:port`).
    public let allowedOrigins: [String]

    public init(address host: String, port: Int, https: Bool, loopback: Bool) {
        let scheme = https ? "https" : "http"
        var hosts = [Self.hostPort(host, port)]
        if loopback { hosts += [Self.hostPort("localhost", port), Self.hostPort("127.0.0.1", port), Self.hostPort("::1", port)] }
        var unique: [String] = []
        for candidate in hosts.map({ $0.lowercased() }) where !unique.contains(where: { Array($0.utf8) == Array(candidate.utf8) }) {
            unique.append(candidate)
        }
        allowedHosts = unique
        allowedOrigins = unique.map { "\(scheme)://\($0)" }
    }

    static func hostPort(_ host: String, _ port: Int) -> String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Who the request is, as established by the caller from its credentials.
    public enum Credential: Sendable, Equatable {
        case none
        /// A valid session cookie, with that session's CSRF token.
        case session(csrf: String)
        /// A valid API key (`Authorization: Bearer`): not ambient, so no CSRF.
        case apiKey
        /// A credential was presented and is not valid.
        case invalid
    }

    public enum Decision: Equatable, Sendable {
        case allow
        case refuse(status: Int, reason: String)
    }

    /// Whether the `Host` header names this server (against DNS rebinding).
    public func hostAllowed(_ host: String?) -> Bool {
        guard let host else { return false }
        let value = Array(host.lowercased().utf8)
        return allowedHosts.contains { Array($0.utf8) == value }
    }

    /// Whether a state-changing request comes from this server's own pages:
    /// `Origin` must be one of ours; without it, `Sec-Fetch-Site` must say
    /// same-origin; with neither (an old client), `Referer` must start with ours.
    public func sameOrigin(origin: String?, fetchSite: String?, referer: String?) -> Bool {
        if let origin {
            let value = Array(origin.lowercased().utf8)
            return allowedOrigins.contains { Array($0.utf8) == value }
        }
        if let fetchSite { return fetchSite == "same-origin" }
        if let referer {
            let lowered = referer.lowercased()
            return allowedOrigins.contains { lowered == $0 || lowered.hasPrefix($0 + "/") }
        }
        return false
    }

    /// The rule for a request to a protected path (the API and the event stream).
    public func check(_ request: WebRequest, credential: Credential) -> Decision {
        guard hostAllowed(request.header("host")) else {
            return .refuse(status: 421, reason: "this server does not answer to the host '\(request.header("host") ?? "")'; open the address `syncctl ui` prints")
        }
        switch credential {
        case .none:
            return .refuse(status: 401, reason: "log in first: open the link `syncctl ui` prints, or send `Authorization: Bearer` with the API key (`syncctl ui api-key`)")
        case .invalid:
            return .refuse(status: 401, reason: "the session or API key is not valid (expired, or the daemon restarted): open a new link from `syncctl ui`")
        case .apiKey:
            return .allow
        case .session(let csrf):
            guard request.isStateChanging else { return .allow }
            guard sameOrigin(origin: request.header("origin"), fetchSite: request.header("sec-fetch-site"), referer: request.header("referer")) else {
                return .refuse(status: 403, reason: "cross-site request refused: changes must come from this server's own pages")
            }
            guard let sent = request.header("x-csrf-token"), Self.constantTimeEqual(sent, csrf) else {
                return .refuse(status: 403, reason: "missing or wrong CSRF token: reload the page")
            }
            return .allow
        }
    }

    /// Compares two secrets without stopping at the first difference.
    public static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8), b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
