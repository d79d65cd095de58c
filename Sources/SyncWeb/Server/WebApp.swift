import Foundation
import NIOPosix
import SyncCore

/// Answers one request: security checks, login, assets, the API. The event
/// stream is handed back to the server to run (it is not one response).
public struct WebApp: Sendable {
    public enum Outcome: Sendable {
        case response(WebResponse)
        /// The stream, and how to tell that its credential still holds.
        case eventStream(resumeAfter: UInt64?, stillAuthorized: @Sendable () -> Bool)
        /// A watched SQL query (`GET /api/v1/watch`), checked and ready to run.
        case watchStream(QueryWatch, stillAuthorized: @Sendable () -> Bool)
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
        case .watch:
            guard request.method == "GET" else { return .response(.error(405, "use GET")) }
            guard let sql = request.parameter("sql"), !sql.isEmpty else {
                return .response(.error(400, "give the query as ?sql=SELECT… (URL-encoded); see docs/api.md"))
            }
            let watch: QueryWatch
            do { watch = try QueryWatch(path: context.store.path, sql: sql) } catch {
                return .response(.error(400, "\(error)"))
            }
            let app = self
            return .watchStream(watch, stillAuthorized: { app.credential(for: request) == credential })
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
            let client = FailedLogins.client(request.remote)
            let wait = failedLogins.wait(for: client)
            guard wait == 0 else {
                var response = Assets.page(status: 429, title: "Log in", body: "Too many wrong passwords: wait \(wait) s, then try again.<br>" + Assets.passwordForm)
                response.headers.append(("Retry-After", String(wait)))
                return response
            }
            guard failedLogins.begin() else { return .error(429, "another login is being checked; try again in a moment") }
            defer { failedLogins.end() }
            let credentials = context.credentials
            // PBKDF2 takes a while: on its own thread, not the store's or the loops'.
            let matches = (try? await FailedLogins.hashingPool.runIfActive { credentials.checkPassword(password) }) ?? false
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

/// Slows password guessing per client (an IPv4 address, or an IPv6 /64):
/// each failure makes that client wait a second longer before its next try
/// (up to 30 s; a try too early is answered 429 at once, without hashing),
/// failures are forgotten after an hour, and one password check runs at a
/// time on a thread of its own, so guesses can neither skip the delay nor
/// take the threads the store and the sync sessions use.
final class FailedLogins: @unchecked Sendable {
    /// Clients remembered at most (the one that failed longest ago goes first).
    static let maxClients = 1_024
    static let forgetAfter: TimeInterval = 3_600
    /// PBKDF2 runs here, never on the store's or the event loops' threads.
    static let hashingPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    private let lock = NSLock()
    private var failures: [String: (count: Int, last: Date)] = [:]
    private var checking = false

    /// The key a client's failures are counted under.
    static func client(_ address: String?) -> String {
        guard let address else { return "?" }
        guard address.contains(":") else { return address }
        // IPv6: the /64 (an attacker may hold every address in it).
        return address.split(separator: ":", omittingEmptySubsequences: false).prefix(4).joined(separator: ":") + "::/64"
    }

    /// Seconds this client must still wait; 0 when it may try now.
    func wait(for client: String, now: Date = Date()) -> Int {
        lock.withLock {
            guard let entry = failures[client] else { return 0 }
            if now.timeIntervalSince(entry.last) > Self.forgetAfter { failures[client] = nil; return 0 }
            return max(0, Int((Double(min(entry.count, 30)) - now.timeIntervalSince(entry.last)).rounded(.up)))
        }
    }

    func begin() -> Bool { lock.withLock { checking ? false : { checking = true; return true }() } }
    func end() { lock.withLock { checking = false } }

    func record(_ client: String, now: Date = Date()) {
        lock.withLock {
            if failures[client] == nil, failures.count >= Self.maxClients, let oldest = failures.min(by: { $0.value.last < $1.value.last })?.key {
                failures[oldest] = nil
            }
            failures[client] = ((failures[client]?.count ?? 0) + 1, now)
        }
    }

    func reset(_ client: String) { lock.withLock { failures[client] = nil } }
}
