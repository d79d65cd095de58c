import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// The web app's doors, tried against a real daemon with hand-made requests.
    @Suite struct WebAppSecurity {
        let root = TemporaryDirectory("syncd-web-security")

        func started() async throws -> (DaemonProcess, RawHTTP, Syncctl) {
            let daemon = try DaemonProcess("web", in: root)
            try await daemon.start()
            _ = try await daemon.waitForUI()
            return (daemon, RawHTTP(port: daemon.uiPort), Syncctl(existing: daemon.directory))
        }

        /// Logs in through a `syncctl ui` link; returns the cookie and the CSRF token.
        func login(_ http: RawHTTP, _ cli: Syncctl) throws -> (cookie: String, csrf: String) {
            let link = try cli.run(["ui"])
            #expect(link.status == 0, "\(link)")
            let url = try #require(URL(string: link.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
            let response = try http.send("GET", url.path + "?" + (url.query ?? ""))
            #expect(response.status == 303, "\(response)")
            let setCookie = try #require(response.header("Set-Cookie"))
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict"), "\(setCookie)")
            let cookie = String(setCookie.split(separator: ";")[0])
            let session = try http.send("GET", "/api/v1/session", headers: [("Cookie", cookie)])
            let csrf = try #require((try session.json() as? [String: Any])?["csrf"] as? String)
            return (cookie, csrf)
        }

        @Test func noCredentialGetsNoData() async throws {
            let (daemon, http, _) = try await started()
            for path in ["/api/v1/status", "/api/v1/collections/agreements/records", "/api/v1/records/countries/cn", "/api/v1/conflicts",
                         "/api/v1/changes", "/api/v1/events", "/api/v1/snapshots", "/api/v1/schema"] {
                let response = try http.send("GET", path)
                #expect(response.status == 401, "\(path): \(response)")
                #expect(!response.body.contains("China"), "\(path)")
            }
            // A wrong key or a made-up session is no better.
            #expect(try http.send("GET", "/api/v1/status", headers: [("Authorization", "Bearer sk_wrong")]).status == 401)
            #expect(try http.send("GET", "/api/v1/status", headers: [("Cookie", "syncd_session_\(daemon.uiPort)=made-up")]).status == 401)
            // The page shell has no data and carries a CSP without inline script.
            let page = try http.send("GET", "/")
            #expect(page.status == 200)
            let policy = try #require(page.header("Content-Security-Policy"))
            #expect(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"))
            #expect(!page.body.contains("<script>") && !page.body.contains("onclick="))
            try await daemon.stop()
        }

        @Test func theAPIKeyWorksFromCurl() async throws {
            let (daemon, http, cli) = try await started()
            let key = try cli.run(["ui", "api-key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let mode = try FileManager.default.attributesOfItem(atPath: daemon.directory.appendingPathComponent("ui-api-key").path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            curl.arguments = ["curl", "-sf", "-H", "Authorization: Bearer \(key)", "http://127.0.0.1:\(daemon.uiPort)/api/v1/records/countries/cn"]
            let output = Pipe()
            curl.standardOutput = output
            try curl.run()
            curl.waitUntilExit()
            let body = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(curl.terminationStatus == 0 && body.contains("\"name\":\"China\""), "\(body)")
            // The key needs no CSRF token (it is not sent by browsers on their own).
            let edit = try http.send("PATCH", "/api/v1/records/countries/cn", headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")],
                                     body: #"{"fields": {"role": "edited with the API key"}}"#)
            #expect(edit.status == 200, "\(edit)")
            #expect(try daemon.store().record(RecordRef(collection: "countries", id: "cn"))?.value("role") == .text("edited with the API key"))
            try await daemon.stop()
        }

        @Test func aWrongHostIsRefused() async throws {
            let (daemon, http, cli) = try await started()
            let key = try cli.run(["ui", "api-key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            for host in ["attacker.example:\(daemon.uiPort)", "127.0.0.1:1", "rebound.example"] {
                let response = try http.send("GET", "/api/v1/status", headers: [("Authorization", "Bearer \(key)")], host: host)
                #expect(response.status == 421, "\(host): \(response)")
                #expect(try http.send("GET", "/", host: host).status == 421)
            }
            #expect(try http.send("GET", "/api/v1/status", headers: [("Authorization", "Bearer \(key)")], host: "localhost:\(daemon.uiPort)").status == 200)
            try await daemon.stop()
        }

        @Test func crossSitePostsAndUsedTokensAreRefused() async throws {
            let (daemon, http, cli) = try await started()
            let (cookie, csrf) = try login(http, cli)
            let body = #"{"fields": {"role": "cross-site"}}"#
            let json = ("Content-Type", "application/json")
            // A page on another origin (even another port of 127.0.0.1: same site, not same origin).
            for origin in ["http://attacker.example", "http://127.0.0.1:1", "null"] {
                let response = try http.send("PATCH", "/api/v1/records/countries/cn", headers: [("Cookie", cookie), ("Origin", origin), ("X-CSRF-Token", csrf), json], body: body)
                #expect(response.status == 403, "\(origin): \(response)")
            }
            // The right origin without the CSRF token, or with a wrong one.
            let own = "http://127.0.0.1:\(daemon.uiPort)"
            #expect(try http.send("PATCH", "/api/v1/records/countries/cn", headers: [("Cookie", cookie), ("Origin", own), json], body: body).status == 403)
            #expect(try http.send("PATCH", "/api/v1/records/countries/cn", headers: [("Cookie", cookie), ("Origin", own), ("X-CSRF-Token", csrf + "x"), json], body: body).status == 403)
            #expect(try daemon.store().record(RecordRef(collection: "countries", id: "cn"))?.value("role") != .text("cross-site"))
            // The same request from the app's own page goes through.
            let ok = try http.send("PATCH", "/api/v1/records/countries/cn", headers: [("Cookie", cookie), ("Origin", own), ("X-CSRF-Token", csrf), json], body: body)
            #expect(ok.status == 200, "\(ok)")

            // A login link works once.
            let link = try #require(URL(string: try cli.run(["ui"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
            let first = try http.send("GET", link.path + "?" + (link.query ?? ""))
            #expect(first.status == 303)
            let again = try http.send("GET", link.path + "?" + (link.query ?? ""))
            #expect(again.status == 401 && again.header("Set-Cookie") == nil, "\(again)")
            #expect(try http.send("GET", "/login?token=never-issued").status == 401)
            try await daemon.stop()
        }

        @Test func aNonLoopbackAddressNeedsAPassword() async throws {
            let daemon = try DaemonProcess("exposed", in: root)
            // Refused before anything is bound (192.0.2.1 is a documentation
            // address, not on this machine), so no port opens on a real interface.
            daemon.uiArgument = "192.0.2.1:0"
            await #expect(throws: HarnessError.self) { try await daemon.start(timeout: .seconds(20)) }
            #expect(daemon.log().contains("syncctl ui password"), "\(daemon.log(last: 5))")
            #expect(daemon.exitStatus != 0)
            // Every interface is refused too, password or not: the Host check needs one name.
            daemon.uiArgument = "0.0.0.0:0"
            await #expect(throws: HarnessError.self) { try await daemon.start(timeout: .seconds(20)) }
            #expect(daemon.log().contains("every interface"), "\(daemon.log(last: 5))")
            // With a password set, the policy allows it (served over HTTPS);
            // checked without binding a non-loopback address here.
            let cli = Syncctl(existing: daemon.directory)
            let set = try cli.run(["ui", "password", "--stdin"], input: "a long enough secret\n")
            #expect(set.status == 0, "\(set)")
            let stored = try String(contentsOf: daemon.directory.appendingPathComponent("ui-password"), encoding: .utf8)
            #expect(stored.hasPrefix("pbkdf2-sha256$") && !stored.contains("a long enough secret"))
            #expect(try FileManager.default.attributesOfItem(atPath: daemon.directory.appendingPathComponent("ui-password").path)[.posixPermissions] as? Int == 0o600)
            let short = try cli.run(["ui", "password", "--stdin"], input: "short\n")
            #expect(short.status != 0 && short.stderr.contains("at least"), "\(short)")
        }

        /// A non-loopback address with a password: HTTPS with the device
        /// certificate and the password form. Tried on the IPv4-mapped
        /// loopback address (::ffff:127.0.0.1), which the policy treats as
        /// not loopback, so no traffic leaves the machine.
        @Test func withAPasswordTheAppIsServedOverHTTPSAndThePasswordLogsIn() async throws {
            let daemon = try DaemonProcess("https", in: root)
            let cli = Syncctl(existing: daemon.directory)
            #expect(try cli.run(["ui", "password", "--stdin"], input: "a long enough secret\n").status == 0)
            daemon.uiArgument = "[::ffff:127.0.0.1]:0"
            try await daemon.start()
            let base = try await daemon.waitForUI()
            #expect(base.hasPrefix("https://[::ffff:127.0.0.1]:"), "\(base)")
            func curl(_ arguments: [String]) throws -> String {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code} %header{set-cookie}", "--max-time", "20"] + arguments
                let output = Pipe()
                process.standardOutput = output
                try process.run()
                process.waitUntilExit()
                return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            }
            let origin = ["-H", "Origin: \(base)"]
            #expect(try curl(origin + ["-d", "password=wrong password", "\(base)/login"]).hasPrefix("401"))
            // Straight after a failure the next try must wait: 429 at once, no hashing.
            #expect(try curl(origin + ["-d", "password=a long enough secret", "\(base)/login"]).hasPrefix("429"))
            try await Task.sleep(for: .seconds(1.2))
            let ok = try curl(origin + ["-d", "password=a long enough secret", "\(base)/login"])
            #expect(ok.hasPrefix("303") && ok.contains("Secure") && ok.contains("HttpOnly"), "\(ok)")
            let cookie = String(ok.split(separator: " ", maxSplits: 1)[1].split(separator: ";")[0])
            #expect(try curl(["-H", "Cookie: \(cookie)", "\(base)/api/v1/status"]).hasPrefix("200"))
            // Plain HTTP on that port is not served.
            #expect(!(try curl([base.replacingOccurrences(of: "https://", with: "http://") + "/"]).hasPrefix("200")))
            try await daemon.stop()
        }

        @Test func invalidValuesAreRefusedPerFieldWithSyncctlsMessages() async throws {
            let (daemon, http, cli) = try await started()
            let key = try cli.run(["ui", "api-key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let auth = [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")]
            let bad = try http.send("PATCH", "/api/v1/records/agreements/us-cn-trade-truce-2025", headers: auth,
                                    body: #"{"fields": {"status": "paused", "announced": "last week"}, "add": {"parties": ["planets/mars"]}}"#)
            #expect(bad.status == 422, "\(bad)")
            let fields = try #require((try bad.json() as? [String: Any])?["fields"] as? [String: String])
            #expect(fields["status"]?.contains("Allowed: proposed") == true, "\(fields)")
            #expect(fields["announced"]?.contains("YYYY-MM-DD") == true)
            #expect(fields["parties"] != nil)
            // The same messages as syncctl.
            let cliRun = try cli.run(["set", "agreements/us-cn-trade-truce-2025", "status=paused"])
            #expect(cliRun.stderr.contains(fields["status"]!), "\(cliRun)")
            try await daemon.stop()
        }

        @Test func hostileRequestsNeitherCrashNorOverwrite() async throws {
            let (daemon, http, cli) = try await started()
            let key = try cli.run(["ui", "api-key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let auth = [("Authorization", "Bearer \(key)"), ("Content-Type", "application/json")]
            // Creating over an existing record is refused, not a re-create that clears it.
            let before = try #require(try daemon.store().record(RecordRef(collection: "countries", id: "cn")))
            let create = try http.send("POST", "/api/v1/collections/countries/records", headers: auth, body: #"{"id": "cn", "fields": {"name": "Overwritten"}}"#)
            #expect(create.status == 409, "\(create)")
            #expect(try daemon.store().record(RecordRef(collection: "countries", id: "cn"))?.value("region") == before.value("region"))
            // A pick that would overflow is a refusal, and the daemon lives on.
            let resolve = try http.send("POST", "/api/v1/records/countries/cn/resolve", headers: auth,
                                        body: #"{"field": "name", "token": "x", "pick": -9223372036854775808}"#)
            #expect(resolve.status >= 400 && resolve.status < 500, "\(resolve)")
            // An edit whose expected version is stale is refused per field.
            let stale = try http.send("PATCH", "/api/v1/records/countries/cn", headers: auth,
                                      body: #"{"fields": {"role": "late"}, "expect": {"role": "0000000000"}}"#)
            #expect(stale.status == 409 && stale.body.contains("changed since the form was opened"), "\(stale)")
            #expect(try daemon.store().record(RecordRef(collection: "countries", id: "cn"))?.value("role") != .text("late"))
            // Too many query parameters are refused rather than cut.
            let many = (0..<70).map { "where=name%3Dx\($0)" }.joined(separator: "&")
            #expect(try http.send("GET", "/api/v1/collections/countries/records?\(many)", headers: auth).status == 400)
            #expect(daemon.isRunning)
            #expect(try http.send("GET", "/api/v1/status", headers: auth).status == 200)
            try await daemon.stop()
        }

        @Test func idleConnectionsAreClosedSoTheyCannotHoldEverySlot() async throws {
            let (daemon, http, _) = try await started()
            var idle: [Int32] = []
            for _ in 0..<140 { idle.append(try RawHTTP.connectSocket(port: daemon.uiPort)) }
            defer { for descriptor in idle { close(descriptor) } }
            // The sockets sent nothing: after the 10 s head deadline they are closed and the app answers again.
            let served = try await eventually(timeout: .seconds(25), every: .milliseconds(500)) { (try? http.send("GET", "/app.css").status) == 200 }
            #expect(served)
            try await daemon.stop()
        }

        @Test func aLogoutHoldsAcrossARestartAndEndsTheEventStream() async throws {
            let (daemon, http, cli) = try await started()
            let (cookie, csrf) = try login(http, cli)
            let own = "http://127.0.0.1:\(daemon.uiPort)"
            #expect(try http.send("GET", "/api/v1/session", headers: [("Cookie", cookie)]).status == 200)
            // An event stream open with the session ends within a second or two of the logout.
            let ended = StreamEnd()
            Task.detached { _ = try? http.send("GET", "/api/v1/events", headers: [("Cookie", cookie)]); ended.mark() }
            try await Task.sleep(for: .milliseconds(500))
            #expect(!ended.isMarked)
            let logout = try http.send("POST", "/api/v1/logout", headers: [("Cookie", cookie), ("Origin", own), ("X-CSRF-Token", csrf)])
            #expect(logout.status == 204, "\(logout)")
            #expect(try http.send("GET", "/api/v1/session", headers: [("Cookie", cookie)]).status == 401)
            #expect(try await eventually(timeout: .seconds(4)) { ended.isMarked }, "the stream outlived the logout")
            try await daemon.stop()
            try await daemon.start()
            _ = try await daemon.waitForUI()
            #expect(try http.send("GET", "/api/v1/session", headers: [("Cookie", cookie)]).status == 401, "a logout survives the restart")
            // A fresh session survives the restart too.
            let (fresh, _) = try login(http, cli)
            try await daemon.stop()
            try await daemon.start()
            _ = try await daemon.waitForUI()
            #expect(try http.send("GET", "/api/v1/session", headers: [("Cookie", fresh)]).status == 200)
            try await daemon.stop()
        }
    }
}

final class StreamEnd: @unchecked Sendable {
    private let lock = NSLock()
    private var marked = false
    var isMarked: Bool { lock.withLock { marked } }
    func mark() { lock.withLock { marked = true } }
}
