import Foundation
import SyncCore

/// Answers one request: security checks, login, assets, the API. The event
/// stream is handed back to the server to run (it is not one response).
public struct WebApp: Sendable {
    public enum Outcome: Sendable {
        case response(WebResponse)
        case eventStream(resumeAfter: UInt64?)
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
            return .eventStream(resumeAfter: request.header("last-event-id").flatMap(UInt64.init))
        case .logout:
            guard request.method == "POST" else { return .response(.error(405, "use POST")) }
            if let value = request.cookie(cookieName) { sessions.close(cookie: value) }
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
            await failedLogins.delay()
            guard context.credentials.checkPassword(password) else {
                failedLogins.record()
                context.logger.notice("web app: refused a wrong password")
                return Assets.page(status: 401, title: "Log in", body: "Wrong password.<br>" + Assets.passwordForm)
            }
            failedLogins.reset()
            return .redirect("/", headers: [("Set-Cookie", sessionCookie(sessions.openSession()))])
        default:
            return .text(405, "use GET or POST\n")
        }
    }
}

/// Slows password guessing: each failure adds a second of delay, up to 30 s.
final class FailedLogins: @unchecked Sendable {
    private let lock = NSLock()
    private var failures = 0

    func record() { lock.withLock { failures += 1 } }
    func reset() { lock.withLock { failures = 0 } }
    func delay() async {
        let seconds = lock.withLock { min(failures, 30) }
        if seconds > 0 { try? await Task.sleep(for: .seconds(seconds)) }
    }
}
