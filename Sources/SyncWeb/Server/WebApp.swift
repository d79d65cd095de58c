import Foundation
import SyncCore

/// Answers one request: security checks, login, assets, the API. The event
/// stream is handed back to the server to run (it is not one response).
public struct WebApp: Sendable {
    public enum Outcome: Sendable {
        case response(WebResponse)
        /// The stream, and how to tell that its credential still holds.
        case eventStream(resumeAfter: UInt64?, stillAuthorized: @Sendable () -> Bool)
    }

    public let context: WebContext
    public let guardRules: RequestGuard
    public let sessions: LockedSessionBook
    public let https: Bool
    public let port: Int
    /// Whether a password login is offered (non-loopback addresses).
    public let passwordLogin: Bool
    let api: API
    let failedLogins = FailedLogins()

    public init(context: WebContext, address: HostPort, boundPort: Int, mode: UIAddressPolicy.Mode, sessions: LockedSessionBook) {
        self.context = context
        https = mode == .remoteHTTPS
        port = boundPort
        passwordLogin = mode == .remoteHTTPS
        guardRules = RequestGuard(address: address.host, port: boundPort, https: https, loopback: mode == .loopbackHTTP)
        self.sessions = sessions
        api = API(context: context)
    }

    /// The session cookie's name: cookies ignore ports, so two daemons on one
    /// machine would otherwise overwrite each other's session.
    public var cookieName: String { "syncd_session_\(port)" }

    public func respond(to request: WebRequest) async -> Outcome {
        let route = Route.parse(request.path)
        if request.tooManyParameters {
            return .response(.error(400, "more than \(QueryString.maxParameters) query parameters; narrow the request"))
        }
        guard guardRules.hostAllowed(request.header("host")) else {
            return .response(.text(421, "This server does not answer to the host '\(request.header("host") ?? "")'. Open the address `syncctl ui` prints.\n"))
        }
        switch route {
        case .page:
            guard request.method == "GET" || request.method == "HEAD" else { return .response(.text(405, "use GET\n")) }
            return .response(Assets.response(for: "index.html"))
        case .asset(let name):
            return .response(Assets.response(for: name))
        case .login:
            return .response(await login(request))
        case .notFound:
            return .response(.error(404, "no such path: \(request.path); see docs/api.md"))
        default:
            break
        }
        let credential = credential(for: request)
        if case .refuse(let status, let reason) = guardRules.check(request, credential: credential) {
            return .response(.error(status, reason))
        }
        var csrf: String?
        if case .session(let token) = credential { csrf = token }
        switch route {
        case .events:
            guard request.method == "GET" else { return .response(.error(405, "use GET")) }
            let app = self
            return .eventStream(resumeAfter: request.header("last-event-id").flatMap(UInt64.init),
                                stillAuthorized: { app.credential(for: request) == credential })
        case .logout:
            guard request.method == "POST" else { return .response(.error(405, "use POST")) }
            if let value = request.cookie(cookieName) {
                do { try sessions.close(cookie: value) } catch {
                    return .response(.error(500, "could not record the logout: \(error)"))
                }
            }
            return .response(WebResponse(status: 204, headers: [("Set-Cookie", expiredCookie)]))
        default:
            return .response(await api.handle(route, request, csrf: csrf))
        }
    }

    func credential(for request: WebRequest) -> RequestGuard.Credential {
        if let authorization = request.header("authorization") {
            guard authorization.hasPrefix("Bearer "), let key = try? context.credentials.apiKey(),
                  RequestGuard.constantTimeEqual(String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces), key) else { return .invalid }
            return .apiKey
        }
        guard let value = request.cookie(cookieName) else { return .none }
        guard let csrf = sessions.csrf(forCookie: value) else { return .invalid }
        return .session(csrf: csrf)
    }

    var expiredCookie: String { "\(cookieName)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\(https ? "; Secure" : "")" }

    func sessionCookie(_ value: String) -> String {
        "\(cookieName)=\(value); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Int(SessionCookie.lifetime))\(https ? "; Secure" : "")"
    }

    /// `GET /login?token=…` (the link `syncctl ui` prints) and, on a
    /// non-loopback address, `POST /login` with the password.
    func login(_ request: WebRequest) async -> WebResponse {
        switch request.method {
        case "GET":
            if let token = request.parameter("token") {
                guard sessions.redeem(token) else {
                    context.logger.notice("web app: refused a used or expired login link")
                    return Assets.page(status: 401, title: "Login link not valid",
                                       body: "This login link was already used or has expired (links work once, for 5 minutes). Run <code>syncctl ui</code> for a new one.")
                }
                context.logger.info("web app: logged in with a one-time link")
                return .redirect("/", headers: [("Set-Cookie", sessionCookie(sessions.openSession()))])
            }
            return Assets.page(status: 200, title: "Log in",
                               body: passwordLogin ? Assets.passwordForm
                                   : "Run <code>syncctl ui</code> (or <code>syncctl ui --open</code>) on this machine and open the link it prints.")
        case "POST":
            guard passwordLogin else { return .error(404, "password login is only offered on a non-loopback address; run `syncctl ui`") }
            guard guardRules.sameOrigin(origin: request.header("origin"), fetchSite: request.header("sec-fetch-site"), referer: request.header("referer")) else {
                return .error(403, "cross-site request refused")
            }
            guard request.body.count <= PasswordHash.maxLength * 3 + 64 else { return .error(413, "the form is too large") }
            let password = QueryString.parse(String(decoding: request.body, as: UTF8.self)).last { $0.name == "password" }?.value ?? ""
            let client = request.remote ?? "?"
            guard failedLogins.begin() else { return .error(429, "too many logins at once; try again in a moment") }
            defer { failedLogins.end() }
            await failedLogins.delay(for: client)
            let credentials = context.credentials
            // PBKDF2 takes a while: off the event loops and the cooperative pool.
            let matches = (try? await Blocking.run { credentials.checkPassword(password) }) ?? false
            guard matches else {
                failedLogins.record(client)
                context.logger.notice("web app: refused a wrong password", metadata: ["client": "\(client)"])
                return Assets.page(status: 401, title: "Log in", body: "Wrong password.<br>" + Assets.passwordForm)
            }
            failedLogins.reset(client)
            return .redirect("/", headers: [("Set-Cookie", sessionCookie(sessions.openSession()))])
        default:
            return .text(405, "use GET or POST\n")
        }
    }
}

/// Slows password guessing per client address: each failure adds a second
/// of delay for that address, up to 30 s; at most `maxConcurrent` checks run
/// at once (more get 429), so parallel guesses cannot skip the delay and one
/// client cannot keep another waiting.
final class FailedLogins: @unchecked Sendable {
    static let maxConcurrent = 2
    /// Addresses remembered at most (the one with the fewest failures goes first).
    static let maxClients = 1_024

    private let lock = NSLock()
    private var failures: [String: Int] = [:]
    private var running = 0

    func begin() -> Bool { lock.withLock { running < Self.maxConcurrent ? { running += 1; return true }() : false } }
    func end() { lock.withLock { running -= 1 } }

    func record(_ client: String) {
        lock.withLock {
            if failures[client] == nil, failures.count >= Self.maxClients, let least = failures.min(by: { $0.value < $1.value })?.key {
                failures[least] = nil
            }
            failures[client, default: 0] += 1
        }
    }

    func reset(_ client: String) { lock.withLock { failures[client] = nil } }

    func delay(for client: String) async {
        let seconds = lock.withLock { min(failures[client] ?? 0, 30) }
        if seconds > 0 { try? await Task.sleep(for: .seconds(seconds)) }
    }
}
