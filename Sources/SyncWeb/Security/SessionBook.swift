import Crypto
import Foundation

/// One-time login tokens, kept in memory (pure: time is passed in). A token
/// becomes a signed session cookie (`SessionCookie`), which survives a
/// daemon restart; `LockedSessionBook` wraps both for concurrent use.
public struct SessionBook: Sendable {
    /// How long a login link stays usable.
    public static let tokenLifetime: TimeInterval = 300
    /// Unused login tokens kept at most (the oldest goes first).
    public static let maxTokens = 32
    /// Logged-out sessions remembered at most (until they expire anyway).
    public static let maxRevoked = 1_024

    private var tokens: [(token: String, expires: Date)] = []
    private var revoked: [(id: String, expires: Date)] = []

    public init() {}

    public mutating func issueToken(_ token: String, now: Date) {
        tokens.removeAll { $0.expires <= now }
        if tokens.count >= Self.maxTokens { tokens.removeFirst(tokens.count - Self.maxTokens + 1) }
        tokens.append((token, now.addingTimeInterval(Self.tokenLifetime)))
    }

    /// Uses a login token: true once, if it was issued and has not expired.
    public mutating func redeem(_ token: String, now: Date) -> Bool {
        tokens.removeAll { $0.expires <= now }
        guard let index = tokens.firstIndex(where: { RequestGuard.constantTimeEqual($0.token, token) }) else { return false }
        tokens.remove(at: index)
        return true
    }

    /// Remembers a logged-out session until it would have expired. Returns
    /// false when the list is full: the caller must then change the signing
    /// key (logging every browser out) rather than forget a logout.
    public mutating func revoke(session id: String, expires: Date, now: Date) -> Bool {
        revoked.removeAll { $0.expires <= now }
        if isRevoked(id) { return true }
        guard revoked.count < Self.maxRevoked else { return false }
        revoked.append((id, expires))
        return true
    }

    public func isRevoked(_ id: String) -> Bool { revoked.contains { RequestGuard.constantTimeEqual($0.id, id) } }

    public mutating func forgetRevocations() { revoked.removeAll() }

    /// The logged-out sessions, one `ID EXPIRES` line each (for `ui-revoked`).
    public var revokedLines: String { revoked.map { "\($0.id) \(Int64($0.expires.timeIntervalSince1970))\n" }.joined() }

    /// Reads `revokedLines` back, dropping expired and malformed lines.
    public mutating func loadRevoked(_ text: String, now: Date) {
        for line in text.split(separator: "\n").prefix(Self.maxRevoked) {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let seconds = Int64(parts[1]) else { continue }
            let expires = Date(timeIntervalSince1970: TimeInterval(seconds))
            if expires > now { revoked.append((String(parts[0]), expires)) }
        }
    }
}

/// A session cookie: `ID.EXPIRES.MAC`, where MAC is HMAC-SHA256 over the id
/// and expiry with the key in `ui-session-key`. Nothing per session is
/// stored, so sessions outlive a restart; deleting the key file logs every
/// browser out. The CSRF token is derived from the id the same way (pure).
public enum SessionCookie {
    /// How long a session lasts.
    public static let lifetime: TimeInterval = 7 * 86_400
    /// The longest cookie value read (a cookie comes from a client).
    public static let maxBytes = 256

    public static func make(id: String, expires: Date, key: SymmetricKey) -> String {
        let seconds = Int64(expires.timeIntervalSince1970)
        return "\(id).\(seconds).\(mac("session:\(id).\(seconds)", key: key))"
    }

    /// The session id when the cookie is genuine and not expired.
    public static func verify(_ value: String, key: SymmetricKey, now: Date) -> (id: String, expires: Date)? {
        guard value.utf8.count <= maxBytes else { return nil }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let seconds = Int64(parts[1]) else { return nil }
        guard RequestGuard.constantTimeEqual(parts[2], mac("session:\(parts[0]).\(seconds)", key: key)) else { return nil }
        let expires = Date(timeIntervalSince1970: TimeInterval(seconds))
        guard expires > now else { return nil }
        return (parts[0], expires)
    }

    public static func csrf(for id: String, key: SymmetricKey) -> String { mac("csrf:\(id)", key: key) }

    static func mac(_ text: String, key: SymmetricKey) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)
        return Data(code).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

/// `SessionBook` and `SessionCookie` behind a lock, with the system clock,
/// random tokens and the data directory's files: the signing key
/// (`ui-session-key`) and the logged-out sessions (`ui-revoked`), so a
/// logout holds across restarts.
public final class LockedSessionBook: @unchecked Sendable {
    private let lock = NSLock()
    private var book = SessionBook()
    private var key: SymmetricKey
    private let credentials: UICredentials?
    /// Serializes writes of `ui-revoked`, outside the lock every request takes.
    private let fileLock = NSLock()

    /// A book whose key and logouts live in the data directory.
    public init(credentials: UICredentials) throws {
        self.credentials = credentials
        key = try credentials.sessionKey()
        if let text = try? String(contentsOfFile: credentials.revokedPath, encoding: .utf8) { book.loadRevoked(text, now: Date()) }
    }

    /// A book in memory only (tests).
    public init(key: SymmetricKey) {
        self.key = key
        credentials = nil
    }

    /// 32 random bytes as base64url.
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public func issueToken() -> String {
        let token = Self.randomToken()
        lock.withLock { book.issueToken(token, now: Date()) }
        return token
    }

    public func redeem(_ token: String) -> Bool { lock.withLock { book.redeem(token, now: Date()) } }

    /// Opens a session; returns the cookie's value.
    public func openSession() -> String {
        let key = lock.withLock { self.key }
        return SessionCookie.make(id: Self.randomToken(), expires: Date().addingTimeInterval(SessionCookie.lifetime), key: key)
    }

    /// The CSRF token of a live session's cookie; nil when it is not one.
    public func csrf(forCookie value: String) -> String? {
        lock.withLock {
            guard let session = SessionCookie.verify(value, key: key, now: Date()), !book.isRevoked(session.id) else { return nil }
            return SessionCookie.csrf(for: session.id, key: key)
        }
    }

    /// Logs one session out, on disk too. When too many logouts are
    /// remembered, the signing key changes instead: every browser is logged out.
    public func close(cookie value: String) throws {
        // The file is written outside the lock (a slow disk must not stall
        // every request), in order, by one writer at a time.
        try fileLock.withLock {
            let lines: String? = try lock.withLock {
                guard let session = SessionCookie.verify(value, key: key, now: Date()) else { return nil }
                if !book.revoke(session: session.id, expires: session.expires, now: Date()) {
                    if let credentials { key = try credentials.rotateSessionKey() } else { key = SymmetricKey(size: .bits256) }
                    book.forgetRevocations()
                }
                return book.revokedLines
            }
            if let lines, let credentials { try UICredentials.writeSecret(lines, to: credentials.revokedPath) }
        }
    }
}
