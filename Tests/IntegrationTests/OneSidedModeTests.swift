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
                #expect(try await eventually { try [a, b].allSatisfy { try $0.status().peers.first?.state == "connected" } })
                let takes = mode == .receiveOnly  // b takes from a; sends nothing
                // The edit that must not travel is made first; the one that
                // must travel second. When the second has arrived, the link
                // has carried traffic after the first: no sleep proves more.
                let (held, heldBy, heard, heardBy) = takes ? (us, b, cn, a) : (cn, a, us, b)
                let receiver = takes ? b : a, other = takes ? a : b
                try heldBy.store().update(held, [.set("notes", .text("held"))], author: heldBy.name)
                try heardBy.store().update(heard, [.set("notes", .text("heard"))], author: heardBy.name)
                #expect(try await eventually(timeout: .seconds(10)) { try receiver.store().record(heard)?.value("notes") == .text("heard") },
                        "\(mode): the allowed direction carried nothing\n\(receiver.log(last: 15))")
                #expect(try other.store().record(held)?.value("notes") != .text("held"), "\(mode): an edit went against the mode\n\(other.log(last: 15))")
                #expect(try other.status().peers.first?.slotsReceived == 0, "\(mode): \(other.name) took slots against the mode")
                #expect(try heldBy.status().peers.first?.slotsSent == 0, "\(mode): \(heldBy.name) sent slots against the mode")
                for daemon in [a, b] { try await daemon.stop() }
            }
        }
    }
}
