import Foundation

/// One-time login tokens and the sessions they become, kept in memory (a
/// daemon restart logs everyone out). Pure: time is passed in, randomness is
/// the caller's; `LockedSessionBook` wraps it for concurrent use.
public struct SessionBook: Sendable {
    public struct Session: Sendable {
        public let csrf: String
        public var lastSeen: Date
    }

    /// How long a login link stays usable.
    public static let tokenLifetime: TimeInterval = 300
    /// How long a session lasts without a request.
    public static let sessionIdleLifetime: TimeInterval = 12 * 3_600
    /// Unused login tokens kept at most (the oldest goes first).
    public static let maxTokens = 32
    /// Sessions kept at most (the least recently seen goes first).
    public static let maxSessions = 64

    private var tokens: [(token: String, expires: Date)] = []
    private var sessions: [String: Session] = [:]

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

    public mutating func open(session id: String, csrf: String, now: Date) {
        expire(now: now)
        if sessions.count >= Self.maxSessions, let oldest = sessions.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key {
            sessions[oldest] = nil
        }
        sessions[id] = Session(csrf: csrf, lastSeen: now)
    }

    /// The session's CSRF token when the session is live (and marks it seen).
    public mutating func touch(session id: String, now: Date) -> String? {
        expire(now: now)
        guard var session = sessions[id] else { return nil }
        session.lastSeen = now
        sessions[id] = session
        return session.csrf
    }

    public mutating func close(session id: String) { sessions[id] = nil }

    private mutating func expire(now: Date) {
        sessions = sessions.filter { now.timeIntervalSince($0.value.lastSeen) < Self.sessionIdleLifetime }
    }
}

/// `SessionBook` behind a lock, with the system clock and random tokens.
public final class LockedSessionBook: @unchecked Sendable {
    private let lock = NSLock()
    private var book = SessionBook()

    public init() {}

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

    /// Opens a session; returns its id and CSRF token.
    public func openSession() -> (id: String, csrf: String) {
        let id = Self.randomToken(), csrf = Self.randomToken()
        lock.withLock { book.open(session: id, csrf: csrf, now: Date()) }
        return (id, csrf)
    }

    public func csrf(forSession id: String) -> String? { lock.withLock { book.touch(session: id, now: Date()) } }

    public func close(session id: String) { lock.withLock { book.close(session: id) } }
}
