import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// When a device proves a replica id that another had claimed without proof
/// (replication-model §3.3), nothing the squatter left under that id steers
/// the owner's sessions: not its cursor, not its echo marks, not a batch of
/// its session still in flight.
@Suite("A reclaimed replica id starts clean", .timeLimit(.minutes(3)))
struct ReclaimTests {
    let squatter = DeviceID(spki: [1]).description
    let owner = DeviceID(spki: [2]).description
    let slot = SlotKey(collection: "countries", record: "cn", field: "notes")

    @Test func theSquattersCursorAndEchoMarksGo() throws {
        let dir = TemporaryDirectory()
        let store = try dir.store(deviceID: DeviceID(spki: [3]).description)
        let claimed = ReplicaProof.replica(device: DeviceID(spki: [2]), nonce: [UInt8](repeating: 1, count: 16))
        #expect(try store.bindPeer(replica: claimed, device: squatter) == .accepted)
        let writer = ReplicaID(high: 7, low: 7)
        let state = SlotState(versions: [Version(dot: Dot(replica: writer, counter: 1), hlc: HLC(millis: 1_000, logical: 0), author: "h", value: .text("pushed"))],
                              context: VersionContext([(writer, 1)]))
        try store.apply([SlotChange(key: slot, state: state)], from: claimed, device: squatter, cursor: 1 << 62)
        #expect(try store.cursor(for: claimed) == 1 << 62)
        // Echo suppression: the squatter's slot is not offered back under its id.
        #expect(try !store.changes(since: 0, maxCount: 100_000, maxBytes: 1 << 30, for: claimed).changes.contains { $0.key == slot })

        #expect(try store.bindPeer(replica: claimed, device: owner, proven: true) == .reclaimed(previousDevice: squatter))
        #expect(try store.cursor(for: claimed) == 0)
        #expect(try store.changes(since: 0, maxCount: 100_000, maxBytes: 1 << 30, for: claimed).changes.contains { $0.key == slot })
        // A batch from the squatter's session, arriving after the takeover, is refused whole.
        #expect(throws: StoreError.self) {
            try store.apply([SlotChange(key: slot, state: state)], from: claimed, device: squatter, cursor: 5)
        }
        #expect(try store.cursor(for: claimed) == 0)
        // The owner's own batches go on, and set echo marks as usual.
        let own = SlotState(versions: [Version(dot: Dot(replica: claimed, counter: 1), hlc: HLC(millis: 2_000, logical: 0), author: "o", value: .text("owner"))],
                            context: VersionContext([(claimed, 1), (writer, 1)]))
        try store.apply([SlotChange(key: slot, state: own)], from: claimed, device: owner, cursor: 3)
        #expect(try store.cursor(for: claimed) == 3)
        #expect(try !store.changes(since: 0, maxCount: 100_000, maxBytes: 1 << 30, for: claimed).changes.contains { $0.key == slot })
    }
}
