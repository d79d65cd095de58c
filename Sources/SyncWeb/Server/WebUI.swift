import Foundation
import Logging
import SyncCore

/// The web app as one service of the daemon: checks the address policy at
/// start (refusing a non-loopback address without a password), serves, and
/// issues one-time login links for `syncctl ui` through the control socket.
public final class WebUI: Sendable {
    public let address: HostPort
    public let mode: UIAddressPolicy.Mode
    let server: WebServer
    let sessions: LockedSessionBook
    private let bound = BoundAddress()

    /// Checks the policy and prepares the server (nothing is bound yet).
    public init(address: HostPort, context: WebContext, identity: DeviceIdentity, logger: Logger) throws {
        self.address = address
        switch UIAddressPolicy.mode(for: address, hasPassword: context.credentials.hasPassword) {
        case .failure(let error): throw error
        case .success(let mode): self.mode = mode
        }
        _ = try context.credentials.apiKey()
        sessions = try LockedSessionBook(credentials: context.credentials)
        let sessions = self.sessions, mode = self.mode
        server = try WebServer(address: address, mode: mode, identity: identity, logger: logger) { port in
            WebApp(context: context, address: address, boundPort: port, mode: mode, sessions: sessions)
        }
    }

    /// Serves until cancelled; `onBound` gets the base URL once listening.
    public func run(onBound: @Sendable (String) -> Void = { _ in }) async throws {
        try await server.run { port in
            let scheme = mode == .remoteHTTPS ? "https" : "http"
            let url = "\(scheme)://\(HostPort(host: address.host, port: port))"
            bound.set(url)
            onBound(url)
        }
    }

    /// The app's address with a fresh one-time login token; nil until bound.
    public func loginURL() -> String? {
        guard let base = bound.get() else { return nil }
        return "\(base)/login?token=\(sessions.issueToken())"
    }

    public var baseURL: String? { bound.get() }
}

private final class BoundAddress: @unchecked Sendable {
    private let lock = NSLock()
    private var url: String?
    func set(_ value: String) { lock.withLock { url = value } }
    func get() -> String? { lock.withLock { url } }
}
