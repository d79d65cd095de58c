import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// A mode set on one side only is enforced by that side alone
    /// (replication-model §6): the other side is send-receive and would
    /// happily send or take.
    @Suite struct OneSidedModes {
        let root = TemporaryDirectory("syncd-modes")
        let cn = RecordRef(parsing: "countries/cn")!
        let us = RecordRef(parsing: "countries/us")!

        @Test func receiveOnlyOnOneSideNeverSendsAndSendOnlyNeverTakes() async throws {
            for mode in [PeerMode.receiveOnly, .sendOnly] {
                let a = try DaemonProcess("a-\(mode.rawValue)", in: root), b = try DaemonProcess("b-\(mode.rawValue)", in: root)
                for daemon in [a, b] { try await daemon.start() }
                // Only b restricts; a is send-receive towards b.
                try connect([(a, b)], modes: ["b-\(mode.rawValue)->a-\(mode.rawValue)": mode])
                try await Task.sleep(for: .milliseconds(1_500))
                try a.store().update(cn, [.set("notes", .text("from a"))], author: "a")
                try b.store().update(us, [.set("notes", .text("from b"))], author: "b")
                let takes = mode == .receiveOnly  // b takes from a; sends nothing
                let fromA = try await eventually(timeout: .seconds(5)) { try b.store().record(cn)?.value("notes") == .text("from a") }
                let fromB = try await eventually(timeout: .seconds(takes ? 3 : 5)) { try a.store().record(us)?.value("notes") == .text("from b") }
                #expect(fromA == takes, "\(mode): a's edit \(fromA ? "reached" : "did not reach") b\n\(b.log(last: 15))")
                #expect(fromB == !takes, "\(mode): b's edit \(fromB ? "reached" : "did not reach") a\n\(a.log(last: 15))")
                for daemon in [a, b] { try await daemon.stop() }
            }
        }
    }
}
