import Foundation
import SyncCore
import TestSupport

/// Two daemons whose certificates the same team CA signed, each trusting
/// it; started, with a dialing b and b listing nobody (a is admitted
/// through the team CA).
func startTeamCAPair(in root: TemporaryDirectory) async throws -> (a: DaemonProcess, b: DaemonProcess) {
    let caDirectory = root.url.appendingPathComponent("ca")
    let caCertificate = try TeamCA.create(in: caDirectory, name: "minerals desk")
    let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
    for daemon in [a, b] {
        _ = try TeamCA.sign(deviceDirectory: daemon.directory, caDirectory: caDirectory, deviceName: daemon.name)
        try PeerListEditor(path: daemon.configPath, defaults: .machineDefaults()).set("team_ca", to: caCertificate.path)
    }
    for daemon in [a, b] { try await daemon.start() }
    try a.setPeers([b.asPeer()])
    return (a, b)
}
