import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// `syncctl invite` on one machine and `syncctl join` on another connect
    /// two daemons that knew nothing of each other; a code is single-use,
    /// expires, and must carry its secret (replication-model §6.2).
    @Suite struct Invitations {
        let root = TemporaryDirectory("syncd-invite")

        func invite(_ daemon: DaemonProcess, _ extra: [String] = []) throws -> String {
            let run = try Syncctl(existing: daemon.directory).run(["invite"] + extra)
            guard run.status == 0 else { throw HarnessError("invite failed: \(run)") }
            return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        @Test func inviteThenJoinConnectsTwoStrangersAndTheyConverge() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            // The listen address comes from the running daemon (its real port, the config says 0).
            let code = try invite(a, ["--name", "bo", "--mode", "send-receive"])
            #expect(try InvitationCode(parsing: code).addresses == [a.address])
            let join = try Syncctl(existing: b.directory).run(["join", code, "--timeout", "30"])
            #expect(join.status == 0 && join.stdout.contains("joined"), "\(join)")
            #expect(try a.status().peers.map(\.name) == ["bo"])
            #expect(try b.status().peers.first?.deviceID == a.deviceID.description)
            #expect(a.log().contains("invitation accepted"))
            // Both ways.
            try Syncctl(existing: a.directory).run(["set", "countries/cn", "notes=from a"])
            try Syncctl(existing: b.directory).run(["set", "countries/jp", "notes=from b"])
            #expect(try await eventually(timeout: .seconds(20)) {
                try b.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") == .text("from a")
                    && a.store().record(RecordRef(parsing: "countries/jp")!)?.value("notes") == .text("from b")
            })
            try await a.waitUntilInSync()
            #expect(try a.digest() == b.digest())
            // The secret is stored only hashed; the joiner drops it once answered.
            let book = try String(contentsOf: a.directory.appendingPathComponent("invitations.json"), encoding: .utf8)
            let secret = Hex.encode(try InvitationCode(parsing: code).secret)
            #expect(!book.contains(secret))
            #expect(try !String(contentsOf: b.directory.appendingPathComponent("join-claims.json"), encoding: .utf8).contains(secret))
            #expect(try Syncctl(existing: a.directory).run(["invite", "list"]).stdout.contains("used by"))
        }

        @Test func aUsedAnExpiredAndAWrongCodeAreRefusedAndCounted() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            let c = try DaemonProcess("c", in: root), d = try DaemonProcess("d", in: root)
            for daemon in [a, b, c, d] { try await daemon.start() }
            let code = try invite(a)
            #expect(try Syncctl(existing: b.directory).run(["join", code, "--timeout", "30"]).status == 0)

            // The same code again, from another device.
            let second = try Syncctl(existing: c.directory).run(["join", code, "--timeout", "30"])
            #expect(second.status == 1 && second.stderr.contains("already used"), "\(second)")

            // An expired code (its printed expiry pushed ahead, so only the inviter's own check stops it).
            let expiredText = try invite(a, ["--expires", "1s"])
            try await Task.sleep(for: .seconds(1.5))
            // syncctl itself sees the printed expiry and sends nothing.
            let stale = try Syncctl(existing: d.directory).run(["join", expiredText])
            #expect(stale.status == 1 && stale.stderr.contains("expired at"), "\(stale)")
            var expired = try InvitationCode(parsing: expiredText)
            expired.expires = Date().addingTimeInterval(3_600)
            let late = try Syncctl(existing: d.directory).run(["join", expired.text, "--timeout", "30"])
            #expect(late.status == 1 && late.stderr.contains("expired"), "\(late)")

            // A wrong secret for an open invitation.
            var wrong = try InvitationCode(parsing: try invite(a))
            wrong.secret[0] ^= 0xFF
            let guessed = try Syncctl(existing: d.directory).run(["join", wrong.text, "--timeout", "30"])
            #expect(guessed.status == 1 && guessed.stderr.contains("wrong secret"), "\(guessed)")

            let counts = try #require(try a.status().invitations)
            #expect(counts.refused == ["already-used": 1, "expired": 1, "wrong-secret": 1])
            #expect(counts.open == 1)
            #expect(a.log().components(separatedBy: "refused an invitation claim").count - 1 == 3)
            #expect(try Syncctl(existing: a.directory).run(["status"]).stdout.contains("3 invitation claims refused"))
            // Only b got in.
            #expect(try a.status().peers.map(\.deviceID) == [b.deviceID.description])
        }
    }
}
