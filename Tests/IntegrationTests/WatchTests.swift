import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// `syncctl watch` and `GET /api/v1/watch` with real daemons: the rows on
    /// start, then one line per row as a peer's changes arrive (docs/sql.md).
    @Suite struct Watch {
        let root = TemporaryDirectory("syncd-watch")

        func pair() async throws -> (DaemonProcess, DaemonProcess) {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            try await a.waitUntilInSync()
            return (a, b)
        }

        static func json(_ line: String) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        }

        static func row(_ line: String) -> [String: Any] { json(line)["row"] as? [String: Any] ?? [:] }

        @Test func syncctlWatchPrintsRowsThenAPeersChangesAsTheyArrive() async throws {
            let (a, b) = try await pair()
            let query = "SELECT id, name, notes FROM countries WHERE region = 'africa' ORDER BY id"
            let watch = try StreamingProcess(BuiltProducts.executable("syncctl"), ["watch", "--json", query, "--data-dir", b.directory.path])
            defer { watch.stop() }
            let african = try SQLiteShell.run(b.directory.appendingPathComponent("data.db").path, "select count(*) from countries where region = 'africa'").stdout
            #expect(try await watch.waitFor { $0.count == Int(african) }, "\(watch.output) \(watch.errorOutput)")
            #expect(watch.lines.allSatisfy { Self.json($0)["event"] as? String == "row" })
            #expect(watch.lines.contains { Self.row($0)["id"] as? String == "cd" })

            // A change on a (with syncctl), a change made with SQL on a, and a delete.
            var started = ContinuousClock.now
            try Syncctl(existing: a.directory).run(["set", "countries/za", "notes=watched"])
            #expect(try await watch.waitFor { $0.contains { Self.json($0)["event"] as? String == "changed" && Self.row($0)["notes"] as? String == "watched" } }, "\(watch.output)")
            let changeArrived = ContinuousClock.now - started
            #expect(changeArrived < .seconds(1), "a peer's change reached the watch in \(changeArrived)")
            print("peer's change → watch line on b: \(changeArrived)")
            let changed = try #require(watch.lines.last { Self.json($0)["event"] as? String == "changed" })
            #expect((Self.json(changed)["before"] as? [String: Any])?["id"] as? String == "za")

            started = ContinuousClock.now
            _ = try SQLiteShell.run(a.directory.appendingPathComponent("data.db").path, "delete from countries where id = 'zm'")
            #expect(try await watch.waitFor { $0.contains { Self.json($0)["event"] as? String == "removed" && Self.row($0)["id"] as? String == "zm" } }, "\(watch.output)")
            print("peer's SQL delete → removal line on b: \(ContinuousClock.now - started)")
            #expect(ContinuousClock.now - started < .seconds(2))
            // Exactly one line per change: nothing else was printed.
            #expect(watch.lines.count == Int(african)! + 2, "\(watch.output)")
        }

        @Test func watchRefusesAQueryThatWrites() throws {
            let cli = try Syncctl(in: root)
            let result = try cli.run(["watch", "DELETE FROM countries"])
            #expect(result.status == 1 && result.stderr.contains("only a query that reads"), "\(result)")
            let once = try cli.run(["watch", "--once", "SELECT id FROM countries WHERE id = 'cn'"])
            #expect(once.status == 0 && once.stdout == "id\ncn\n", "\(once)")
        }

        @Test func theSameThroughTheHTTPAPI() async throws {
            let (a, b) = try await pair()
            _ = try await b.waitForUI()
            let key = try Syncctl(existing: b.directory).run(["ui", "api-key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let sql = "SELECT id, status FROM agreements WHERE id = 'green-minerals-initiative'"
            let encoded = sql.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let curl = try StreamingProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                            ["curl", "-sN", "-H", "Authorization: Bearer \(key)", "http://127.0.0.1:\(b.uiPort)/api/v1/watch?sql=\(encoded)"])
            defer { curl.stop() }
            #expect(try await curl.waitFor { $0.contains("event: ready") }, "\(curl.output) \(curl.errorOutput)")
            #expect(curl.output.contains("event: row") && curl.output.contains("\"status\":\"proposed\""))
            try Syncctl(existing: a.directory).run(["set", "agreements/green-minerals-initiative", "status=active"])
            #expect(try await curl.waitFor { $0.contains("event: changed") }, "\(curl.output)")
            #expect(curl.output.contains("\"status\":\"active\""))
            // A query that writes is refused before any stream starts.
            let refused = try RawHTTP(port: b.uiPort).send("GET", "/api/v1/watch?sql=" + "DELETE FROM agreements".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!,
                                                           headers: [("Authorization", "Bearer \(key)")])
            #expect(refused.status == 400 && refused.body.contains("only a query that reads"), "\(refused)")
        }
    }
}
