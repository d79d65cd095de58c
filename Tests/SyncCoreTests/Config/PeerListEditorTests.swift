import Foundation
import Testing
@testable import SyncCore

/// The config is edited by syncd (invited devices) and syncctl at once:
/// edits under the lock never lose one another.
@Suite("Peer list editor")
struct PeerListEditorTests {
    @Test func concurrentEditsKeepEveryPeer() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("editor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("config.yaml").path
        try Data("# the analyst's comment\nauthor: ana\npeers: []\n".utf8).write(to: URL(fileURLWithPath: path))
        let editor = PeerListEditor(path: path, defaults: DaemonConfig(deviceName: "d", author: "a"))
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    let editor = PeerListEditor(path: path, defaults: DaemonConfig(deviceName: "d", author: "a"))
                    _ = try? editor.updatePeers { peers in
                        peers.append(PeerConfig(deviceID: DeviceID(spki: [UInt8(index)]), name: "p\(index)", address: nil, mode: .sendReceive))
                    }
                }
            }
        }
        let config = try editor.load()
        #expect(config.peers.count == 40)
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("# the analyst's comment"))
        // No temporary files left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp-") }.isEmpty)
    }
}
