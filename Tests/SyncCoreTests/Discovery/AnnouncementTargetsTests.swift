import Testing
@testable import SyncCore

/// Where announcements go: only the families a peer can dial back, only
/// the interface's own broadcast address.
/// 5 minutes: the limit counts waiting for a pool thread too (see
/// AnnounceScheduleTests).
@Suite("LAN discovery targets", .timeLimit(.minutes(5)))
struct AnnouncementTargetsTests {
    func families(_ host: String) -> [Bool] {
        let result = AnnouncementTargets.families(listen: HostPort(host: host, port: 22_870))
        return [result.ipv4, result.ipv6]
    }

    @Test func onlyFamiliesThePeerCanDialBack() {
        #expect(families("0.0.0.0") == [true, false])
        #expect(families("192.0.2.10") == [true, false])
        #expect(families("::") == [true, true])
        #expect(families("2001:db8::1") == [false, true])
        #expect(families("laptop.local") == [true, true])
        for loopback in ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"] {
            #expect(families(loopback) == [false, false], "\(loopback)")
            #expect(!AnnouncementTargets.announces(listen: HostPort(host: loopback, port: 1)))
        }
    }

    @Test func theInterfacesOwnBroadcastAddressOnly() {
        let address: [UInt8] = [10, 231, 0, 1]
        #expect(AnnouncementTargets.broadcast(address: address, netmask: [255, 255, 255, 0], reported: [10, 231, 0, 255]) == [10, 231, 0, 255])
        // An address added without `brd`: computed from the netmask.
        #expect(AnnouncementTargets.broadcast(address: address, netmask: [255, 255, 255, 0], reported: nil) == [10, 231, 0, 255])
        #expect(AnnouncementTargets.broadcast(address: address, netmask: [255, 255, 0, 0], reported: [0, 0, 0, 0]) == [10, 231, 255, 255])
        #expect(AnnouncementTargets.broadcast(address: [192, 168, 1, 77], netmask: [255, 255, 255, 192], reported: nil) == [192, 168, 1, 127])
        // Never the limited broadcast (it would leave by the default route), never on /31 and /32.
        #expect(AnnouncementTargets.broadcast(address: address, netmask: [255, 255, 255, 0], reported: [255, 255, 255, 255]) == [10, 231, 0, 255])
        #expect(AnnouncementTargets.broadcast(address: address, netmask: [0, 0, 0, 0], reported: nil) == nil)
        #expect(AnnouncementTargets.broadcast(address: address, netmask: [255, 255, 255, 254], reported: nil) == nil)
        #expect(AnnouncementTargets.broadcast(address: address, netmask: [255, 255, 255, 255], reported: address) == nil)
        #expect(AnnouncementTargets.broadcast(address: address, netmask: nil, reported: nil) == nil)
    }
}
