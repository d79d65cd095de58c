import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// Bad bytes from an authenticated peer close that connection only, with
    /// the reason in the log; the daemon keeps syncing with everyone else.
    @Suite struct MalformedFrames {
        let root = TemporaryDirectory("syncd-frames")

        enum Case: String, CaseIterable, CustomTestStringConvertible {
            case oversizedLength, garbage, truncated, unknownType, stalled
            var testDescription: String { rawValue }

            var bytes: [UInt8] {
                switch self {
                case .oversizedLength: RawPeer.lengthPrefix(0x7FFF_FFF0) + [3, 0, 0]
                case .garbage: RawPeer.lengthPrefix(24) + [3] + (0..<23).map { _ in UInt8.random(in: 0x80...0xFF) }
                case .truncated, .stalled: RawPeer.lengthPrefix(100) + [UInt8](repeating: 8, count: 40)
                case .unknownType: RawPeer.lengthPrefix(3) + [0xEE, 1, 2]
                }
            }

            /// What the daemon's log says about it.
            var logged: String {
                switch self {
                case .oversizedLength: "exceeds the"
                case .garbage: "undecodable frame"
                case .truncated: "connection ended inside a frame"
                case .unknownType: "unknown message type"
                case .stalled: "stalled halfway"
                }
            }
        }

        @Test(arguments: Case.allCases)
        func badFrameClosesOnlyThatConnection(_ badCase: Case) async throws {
            let pair = try await ProbedPair.start(in: root, extraConfig: "max_frame_bytes: 10485760")
            let (a, b, prober) = (pair.a, pair.b, pair.prober)

            let peer = try await RawPeer.connect(port: b.port, identity: prober)
            try await peer.introduce(as: prober, sends: false, receives: false)
            guard case .hello = try await peer.nextMessage(), case .replicaProof = try await peer.nextMessage() else {
                Issue.record("prober not accepted:\n\(b.log(last: 20))")
                return
            }
            try await peer.send(badCase.bytes)
            if badCase == .truncated { peer.close() }
            // The idle timeout is 5 s in tests; a stalled frame is cut after it.
            #expect(try await peer.waitUntilClosed(timeout: .seconds(12)), "connection not closed")
            #expect(try await eventually(timeout: .seconds(5)) { b.log().contains(badCase.logged) },
                    "reason not logged:\n\(b.log(last: 15))")

            // The other peer was never dropped and still syncs.
            let status = try a.status()
            #expect(status.peers.first?.state == "connected")
            try a.store().update(RecordRef(parsing: "countries/cn")!, [.set("notes", .text("after \(badCase)"))], author: "a")
            #expect(try await eventually { try b.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") == .text("after \(badCase)") })
            #expect(!a.log().contains("peer disconnected"))
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}
