import Foundation
import SyncCore
import TestSupport

/// Two daemons in sync, a ⇄ b, and an identity ("prober") that b lists as a
/// peer: the setting for poking b by hand with a `RawPeer` while a shows
/// that b keeps serving its honest peer.
struct ProbedPair {
    let a: DaemonProcess
    let b: DaemonProcess
    let prober: DeviceIdentity

    static func start(in root: TemporaryDirectory, extraConfig: String = "", proberMode: PeerMode = .sendReceive) async throws -> ProbedPair {
        let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root, extraConfig: extraConfig)
        for daemon in [a, b] { try await daemon.start() }
        let proberDirectory = root.url.appendingPathComponent("prober")
        try FileManager.default.createDirectory(at: proberDirectory, withIntermediateDirectories: true)
        let prober = try DeviceIdentity.loadOrCreate(in: proberDirectory, deviceName: "prober").identity
        try connect([(a, b)])
        var peers = try PeerListEditor(path: b.configPath, defaults: .machineDefaults()).load().peers
        peers.append(PeerConfig(deviceID: prober.deviceID, name: "prober", address: nil, mode: proberMode))
        try await b.setPeersAndWaitForReload(peers)
        try await a.waitUntilInSync()
        return ProbedPair(a: a, b: b, prober: prober)
    }
}
