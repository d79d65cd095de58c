import Foundation
import Testing
@testable import SyncCore

@Suite("Daemon config", .timeLimit(.minutes(3)))
struct DaemonConfigTests {
    let defaults = DaemonConfig(deviceName: "laptop", author: "ana")
    let peerID = DeviceID(hash: Array(0..<32))

    func parse(_ text: String) throws -> DaemonConfig { try DaemonConfig.parse(text, path: "test.yaml", defaults: defaults) }

    func error(_ text: String) -> ConfigError? {
        do { _ = try parse(text); return nil } catch { return error as? ConfigError }
    }

    @Test func theWrittenTemplateParsesToTheDefaults() throws {
        let text = ConfigTemplate.text(deviceName: "laptop", author: "ana", listen: HostPort(host: "127.0.0.1", port: DaemonConfig.defaultPort))
        #expect(try parse(text) == defaults)
        #expect(try parse("") == defaults)
    }

    @Test func everyKeyIsRead() throws {
        let config = try parse("""
            listen: "[::1]:9000"
            author: bo
            device_name: desk
            metrics: 127.0.0.1:9187
            max_frame_bytes: 10485760
            batch: {max_slots: 10, max_bytes: 4096}
            reconnect: {initial_ms: 50, max_ms: 100}
            snapshots: {interval_minutes: 60, retain: 3, directory: /tmp/snaps}
            peers:
              - {name: bob, device_id: \(peerID), address: "10.0.0.2:22870", mode: receive-only}
            """)
        #expect(config.listen == HostPort(host: "::1", port: 9000))
        #expect(config.author == "bo" && config.deviceName == "desk")
        #expect(config.metrics == HostPort(host: "127.0.0.1", port: 9187))
        #expect(config.batchMaxSlots == 10 && config.batchMaxBytes == 4096 && config.maxFrameBytes == 10_485_760)
        #expect(config.snapshots == .init(intervalMinutes: 60, retain: 3, directory: "/tmp/snaps"))
        #expect(config.peers == [PeerConfig(deviceID: peerID, name: "bob", address: HostPort(host: "10.0.0.2", port: 22870), mode: .receiveOnly)])
    }

    @Test func errorsNameTheKeyAndTheFix() {
        #expect(error("listne: 1.2.3.4:5")?.description == "config test.yaml: listne: unknown key (did you mean 'listen'?)")
        #expect(error("batch: {max_slot: 5}")?.key == "batch.max_slot")
        #expect(error("listen: nowhere")?.message.contains("HOST:PORT") == true)
        #expect(error("batch: {max_slots: 0}")?.message.contains("out of range") == true)
        // A frame must carry the largest slot a replica may store; a batch no more slots than a frame may decode.
        #expect(error("max_frame_bytes: 2048")?.message.contains("out of range") == true)
        #expect(error("batch: {max_slots: 100001}")?.message.contains("out of range") == true)
        #expect(error("peers: [{device_id: nope}]")?.key == "peers[0].device_id")
        #expect(error("peers: [{name: x}]")?.message.contains("syncctl id") == true)
        #expect(error("peers: [{device_id: \(peerID), mode: both}]")?.message.contains("send-receive, send-only or receive-only") == true)
        #expect(error("peers: [{device_id: \(peerID)}, {device_id: \(peerID)}]")?.message.contains("listed twice") == true)
        #expect(error("reconnect: {initial_ms: 500, max_ms: 100}")?.key == "reconnect.max_ms")
        #expect(error("- just\n- a list")?.message.contains("mapping") == true)
        #expect(error("listen: [unclosed")?.message.contains("not valid YAML") == true)
    }

    @Test func theShippedExampleIsValid() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../Config/syncd.example.yaml").standardizedFileURL
        let config = try DaemonConfig.load(from: url, defaults: defaults)
        #expect(config.peers.map(\.name) == ["bo-desktop", "field-kit"])
        #expect(config.peers.map(\.mode) == [.sendReceive, .sendOnly])
        #expect(config.metrics == HostPort(host: "127.0.0.1", port: 9187))
        #expect(config.snapshots.intervalMinutes == 1440)
    }

    @Test func environmentOverridesTheFile() throws {
        let config = try parse("author: file").applyingEnvironment(["SYNCD_AUTHOR": "env", "SYNCD_LISTEN": "127.0.0.1:1", "SYNCD_METRICS": "127.0.0.1:2"])
        #expect(config.author == "env" && config.listen.port == 1 && config.metrics?.port == 2)
        #expect(throws: ConfigError.self) { try config.applyingEnvironment(["SYNCD_LISTEN": "bad"]) }
    }

    @Test func peerEditsKeepCommentsAndOtherKeys() throws {
        let original = ConfigTemplate.text(deviceName: "laptop", author: "ana", listen: HostPort(host: "127.0.0.1", port: 1))
        let peer = PeerConfig(deviceID: peerID, name: "bob", address: HostPort(host: "::1", port: 7), mode: .sendOnly)
        let added = PeerListEditor.replacingPeers(in: original, with: [peer])
        #expect(try parse(added).peers == [peer])
        #expect(try parse(added).listen.port == 1)
        let removed = PeerListEditor.replacingPeers(in: added, with: [])
        #expect(removed == original)
        #expect(try parse(PeerListEditor.replacingPeers(in: "author: x\n", with: [peer])).peers == [peer])
    }

    /// LAN discovery is off unless the file says `lan`; `off` reads as off
    /// quoted or not (unquoted, YAML makes it a boolean); anything else is refused.
    @Test func discoveryIsOffByDefaultAndTakesOnlyOffOrLan() throws {
        #expect(try parse("").discovery == .off)
        #expect(defaults.discovery == .off && defaults.discoveryPort == 21_127 && defaults.discoveryIntervalSeconds == 30)
        #expect(try parse("discovery: lan").discovery == .lan)
        #expect(try parse("discovery: off").discovery == .off)
        #expect(try parse("discovery: \"off\"").discovery == .off)
        #expect(try parse("discovery: no").discovery == .off)
        let lan = try parse("discovery: lan\ndiscovery_port: 40000\ndiscovery_interval_seconds: 0.5")
        #expect(lan.discoveryPort == 40_000 && lan.discoveryIntervalSeconds == 0.5)
        #expect(error("discovery: on")?.message == "'true' does not say which discovery: use lan (or off)")
        #expect(error("discovery: yes")?.key == "discovery")
        #expect(error("discovery: LAN")?.message == "'LAN' is not a discovery mode: use off or lan")
        #expect(error("discovery: multicast")?.message.contains("use off or lan") == true)
        #expect(error("discovery: 1")?.key == "discovery")
        #expect(error("discovery_port: 80")?.message.contains("out of range: use 1024…65535") == true)
        #expect(error("discovery_port: 70000")?.key == "discovery_port")
        #expect(error("discovery_interval_seconds: 0.1")?.message.contains("out of range") == true)
        #expect(error("discovery_interval_seconds: 3601")?.message.contains("out of range") == true)
        #expect(error("discovery_intervall_seconds: 1")?.message.contains("did you mean 'discovery_interval_seconds'") == true)
        // No environment variable turns it on.
        #expect(try parse("").applyingEnvironment(["SYNCD_DISCOVERY": "lan"]).discovery == .off)
    }

    /// `syncctl init --discovery` writes a template that says lan, and only then.
    @Test func theTemplateSaysOffUnlessAskedForLan() throws {
        let listen = HostPort(host: "0.0.0.0", port: DaemonConfig.defaultPort)
        #expect(try parse(ConfigTemplate.text(deviceName: "laptop", author: "ana", listen: listen)).discovery == .off)
        let lan = try parse(ConfigTemplate.text(deviceName: "laptop", author: "ana", listen: listen, discovery: .lan))
        #expect(lan.discovery == .lan && lan.discoveryPort == DaemonConfig.defaultDiscoveryPort && lan.discoveryIntervalSeconds == 30)
    }

    @Test func deviceIDsRoundTripThroughText() {
        let id = DeviceID(spki: [1, 2, 3])
        #expect(id.description.count == 52 + 12)
        #expect(DeviceID(id.description) == id)
        #expect(DeviceID(id.description.lowercased().replacingOccurrences(of: "-", with: " ")) == id)
        #expect(DeviceID("AAAA-BBBB") == nil)
        #expect(DeviceID(String(id.description.dropLast()) + "1") == nil)
    }
}
