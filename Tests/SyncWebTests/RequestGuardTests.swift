import Crypto
import Foundation
import Testing
@testable import SyncWeb

@Suite struct RequestGuardTests {
    let rules = RequestGuard(address: "127.0.0.1", port: 22880, https: false, loopback: true)

    func request(_ method: String, _ path: String = "/api/v1/status", headers: [(String, String)]) -> WebRequest {
        WebRequest(method: method, uri: path, headers: headers)
    }

    @Test func refusesWithoutCredential() {
        #expect(rules.check(request("GET", headers: [("Host", "127.0.0.1:22880")]), credential: .none) == .refuse(status: 401, reason: rules.check(request("GET", headers: [("Host", "127.0.0.1:22880")]), credential: .none).reason))
        if case .refuse(let status, _) = rules.check(request("GET", headers: [("Host", "127.0.0.1:22880")]), credential: .invalid) { #expect(status == 401) } else { Issue.record("allowed") }
    }

    @Test func refusesAForeignHost() {
        for host in ["evil.example:22880", "127.0.0.1:22881", "127.0.0.1", "", "127.0.0.1:22880.evil.example"] {
            if case .refuse(let status, _) = rules.check(request("GET", headers: [("Host", host)]), credential: .apiKey) { #expect(status == 421) } else { Issue.record("allowed \(host)") }
        }
        #expect(rules.check(request("GET", headers: []), credential: .apiKey) != .allow)
        for host in ["127.0.0.1:22880", "localhost:22880", "LOCALHOST:22880", "[::1]:22880"] {
            #expect(rules.check(request("GET", headers: [("Host", host)]), credential: .apiKey) == .allow, "\(host)")
        }
    }

    @Test func stateChangesNeedSameOriginAndCSRF() {
        let host = ("Host", "127.0.0.1:22880")
        let good = [host, ("Origin", "http://127.0.0.1:22880"), ("X-CSRF-Token", "abc")]
        #expect(rules.check(request("POST", headers: good), credential: .session(csrf: "abc")) == .allow)
        // Another port on the same host is the same site for cookies, not the same origin.
        #expect(rules.check(request("POST", headers: [host, ("Origin", "http://127.0.0.1:9999"), ("X-CSRF-Token", "abc")]), credential: .session(csrf: "abc")) != .allow)
        #expect(rules.check(request("POST", headers: [host, ("Origin", "null"), ("X-CSRF-Token", "abc")]), credential: .session(csrf: "abc")) != .allow)
        #expect(rules.check(request("POST", headers: [host, ("Origin", "http://127.0.0.1:22880")]), credential: .session(csrf: "abc")) != .allow)
        #expect(rules.check(request("POST", headers: [host, ("Origin", "http://127.0.0.1:22880"), ("X-CSRF-Token", "abd")]), credential: .session(csrf: "abc")) != .allow)
        #expect(rules.check(request("DELETE", headers: [host, ("X-CSRF-Token", "abc")]), credential: .session(csrf: "abc")) != .allow)
        #expect(rules.check(request("PATCH", headers: [host, ("Sec-Fetch-Site", "same-origin"), ("X-CSRF-Token", "abc")]), credential: .session(csrf: "abc")) == .allow)
        #expect(rules.check(request("PATCH", headers: [host, ("Sec-Fetch-Site", "same-site"), ("X-CSRF-Token", "abc")]), credential: .session(csrf: "abc")) != .allow)
        // Reads with a session need neither; the API key needs neither.
        #expect(rules.check(request("GET", headers: [host]), credential: .session(csrf: "abc")) == .allow)
        #expect(rules.check(request("POST", headers: [host]), credential: .apiKey) == .allow)
    }

    @Test func loginTokensWorkOnceAndExpire() {
        var book = SessionBook()
        let now = Date(timeIntervalSince1970: 1_000_000)
        book.issueToken("t1", now: now)
        book.issueToken("t2", now: now)
        do { let result = book.redeem("t1", now: now.addingTimeInterval(10)); #expect(result) }
        do { let result = book.redeem("t1", now: now.addingTimeInterval(11)); #expect(!result) }
        do { let result = book.redeem("t2", now: now.addingTimeInterval(SessionBook.tokenLifetime + 1)); #expect(!result) }
        do { let result = book.redeem("never", now: now); #expect(!result) }
        let key = SymmetricKey(size: .bits256)
        let cookie = SessionCookie.make(id: "abc", expires: now.addingTimeInterval(SessionCookie.lifetime), key: key)
        #expect(SessionCookie.verify(cookie, key: key, now: now.addingTimeInterval(60))?.id == "abc")
        #expect(SessionCookie.verify(cookie, key: key, now: now.addingTimeInterval(SessionCookie.lifetime + 1)) == nil)
        #expect(SessionCookie.verify(cookie, key: SymmetricKey(size: .bits256), now: now) == nil)
        // A changed id or a pushed-back expiry breaks the signature.
        let parts = cookie.split(separator: ".").map(String.init)
        #expect(SessionCookie.verify("abd.\(parts[1]).\(parts[2])", key: key, now: now) == nil)
        #expect(SessionCookie.verify("abc.\(Int(parts[1])! + 1000).\(parts[2])", key: key, now: now) == nil)
        #expect(SessionCookie.csrf(for: "abc", key: key) != SessionCookie.csrf(for: "abd", key: key))
    }

    @Test func tokensAndSessionsAreBounded() {
        var book = SessionBook()
        let now = Date(timeIntervalSince1970: 1_000_000)
        for index in 0..<(SessionBook.maxTokens + 5) { book.issueToken("t\(index)", now: now) }
        do { let result = book.redeem("t0", now: now); #expect(!result) }
        do { let result = book.redeem("t\(SessionBook.maxTokens + 4)", now: now); #expect(result) }
        var refused = 0
        for index in 0..<(SessionBook.maxRevoked + 5) where !book.revoke(session: "s\(index)", expires: now.addingTimeInterval(1_000), now: now) { refused += 1 }
        // Full: the book refuses (the caller changes the key) rather than forget a logout.
        #expect(refused == 5 && book.isRevoked("s0"))
        var reloaded = SessionBook()
        reloaded.loadRevoked(book.revokedLines, now: now)
        #expect(reloaded.isRevoked("s7"))
        reloaded.loadRevoked("s9 \(Int(now.timeIntervalSince1970) - 1)\ngarbage\n", now: now)
        #expect(!reloaded.isRevoked("garbage"))
    }

    @Test func addressPolicy() {
        #expect(UIAddressPolicy.isLoopback("127.0.0.1") && UIAddressPolicy.isLoopback("127.1.2.3") && UIAddressPolicy.isLoopback("::1") && UIAddressPolicy.isLoopback("localhost"))
        #expect(!UIAddressPolicy.isLoopback("0.0.0.0") && !UIAddressPolicy.isLoopback("192.168.1.2") && !UIAddressPolicy.isLoopback("::") && !UIAddressPolicy.isLoopback("127.0.0.1.example"))
        if case .failure(let error) = UIAddressPolicy.mode(for: .init(host: "192.168.1.20", port: 22880), hasPassword: false) {
            #expect(error.description.contains("syncctl ui password"))
        } else { Issue.record("allowed without a password") }
        #expect((try? UIAddressPolicy.mode(for: .init(host: "192.168.1.20", port: 22880), hasPassword: true).get()) == .remoteHTTPS)
        // A wildcard would answer to no Host at all: refused, password or not.
        for host in ["0.0.0.0", "::"] {
            if case .success = UIAddressPolicy.mode(for: .init(host: host, port: 22880), hasPassword: true) { Issue.record("allowed \(host)") }
        }
        #expect((try? UIAddressPolicy.mode(for: .init(host: "127.0.0.1", port: 22880), hasPassword: false).get()) == .loopbackHTTP)
    }

    @Test func routes() {
        #expect(Route.parse("/") == .page("index"))
        #expect(Route.parse("/api/v1/records/agreements/x%2Fy") == .record(collection: "agreements", id: "x/y"))
        #expect(Route.parse("/api/v1/collections/agreements/records") == .records(collection: "agreements"))
        #expect(Route.parse("/api/v1/records/a/b/resolve") == .resolve(collection: "a", id: "b"))
        #expect(Route.parse("/api/v2/status") == .notFound)
        #expect(Route.parse("/" + Array(repeating: "a", count: 20).joined(separator: "/")) == .notFound)
        #expect(!Route.parse("/app.js").isProtected && Route.parse("/api/v1/events").isProtected)
    }

    @Test func eventsCannotBeForgedByNewlines() {
        let event = ServerSentEvent(id: "1\nevent: x", event: "change\r\nid: 9", data: "{\"a\":\"b\"}\n\nevent: evil\ndata: x")
        let lines = event.encoded.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.filter { $0.hasPrefix("event:") }.count == 1)
        #expect(lines.filter { $0.hasPrefix("id:") }.count == 1)
        #expect(event.encoded.hasSuffix("\n\n") && !event.encoded.dropLast(2).contains("\n\n"))
    }

    @Test func passwordHashRoundTrip() throws {
        let hash = try PasswordHash.make("correct horse", rounds: 1_000)
        #expect(hash.matches("correct horse") && !hash.matches("correct horsE"))
        #expect(try PasswordHash.parse(hash.encoded) == hash)
        #expect(throws: UIError.self) { try PasswordHash.parse("plain") }
    }
}

extension RequestGuard.Decision {
    var reason: String { if case .refuse(_, let reason) = self { reason } else { "" } }
}
