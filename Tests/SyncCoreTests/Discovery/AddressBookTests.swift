import Foundation
import PropertyBased
import Testing
@testable import SyncCore

/// What LAN discovery learns and what a dialer tries (docs/operations.md, "LAN discovery").
@Suite("LAN discovery address book", .timeLimit(.minutes(3)))
struct AddressBookTests {
    static let own = DeviceID(hash: Array(repeating: 1, count: 32))
    static let peer = DeviceID(hash: Array(repeating: 2, count: 32))
    static let other = DeviceID(hash: Array(repeating: 3, count: 32))
    static let stranger = DeviceID(hash: Array(repeating: 4, count: 32))
    static let peers: Set<DeviceID> = [peer, other]
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    static func source(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> AnnouncementSource { AnnouncementSource(.v4([a, b, c, d])) }
    static func hearing(_ device: DeviceID, port: UInt16 = 22_870) -> Announcement { Announcement(device: device, port: port, instance: 7) }
    static func at(_ seconds: TimeInterval) -> Date { start.addingTimeInterval(seconds) }

    @Test func onlyConfiguredPeersAreLearnedNeverOurselvesOrStrangers() {
        var book = AddressBook()
        #expect(book.receive(Self.hearing(Self.own), from: Self.source(10, 0, 0, 1), own: Self.own, peers: Self.peers, now: Self.start) == .own)
        #expect(book.receive(Self.hearing(Self.stranger), from: Self.source(10, 0, 0, 9), own: Self.own, peers: Self.peers, now: Self.start) == .notAPeer)
        #expect(book.learned.isEmpty)
        let outcome = book.receive(Self.hearing(Self.peer, port: 4000), from: Self.source(10, 0, 0, 2), own: Self.own, peers: Self.peers, now: Self.start)
        #expect(outcome == .learned(HostPort(host: "10.0.0.2", port: 4000), replaced: nil))
        #expect(book.candidates(for: Self.peer, configured: nil, now: Self.start) == [HostPort(host: "10.0.0.2", port: 4000)])
        #expect(book.candidates(for: Self.other, configured: nil, now: Self.start).isEmpty)
    }

    @Test func sourcesNoHonestDaemonSendsFromAreDropped() {
        var book = AddressBook()
        for bad in [Self.source(0, 0, 0, 0), Self.source(127, 0, 0, 1), Self.source(224, 0, 0, 1), Self.source(255, 255, 255, 255),
                    AnnouncementSource(.v4([10, 0, 0])),
                    AnnouncementSource(.v6(Array(repeating: 0, count: 15) + [1], zone: nil)),
                    AnnouncementSource(.v6([0xFF, 0x12] + Array(repeating: 0, count: 14), zone: "eth0")),
                    AnnouncementSource(.v6([0xFE, 0x80] + Array(repeating: 0, count: 13) + [5], zone: nil)),
                    AnnouncementSource(.v6([0xFE, 0x80] + Array(repeating: 0, count: 13) + [5], zone: "a]b"))] {
            #expect(book.receive(Self.hearing(Self.peer), from: bad, own: Self.own, peers: Self.peers, now: Self.start) == .unusableSource, "\(bad)")
        }
        #expect(book.learned.isEmpty)
    }

    @Test func ipv6SourcesBecomeDialableAddresses() {
        let global = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: UInt8(0), count: 11) + [7]
        #expect(AnnouncementSource(.v6(global, zone: nil)).dialAddress(port: 5_000)?.description == "[2001:db8::7]:5000")
        let linkLocal = [0xFE, 0x80] + Array(repeating: UInt8(0), count: 13) + [5]
        let address = AnnouncementSource(.v6(linkLocal, zone: "veth0")).dialAddress(port: 22_870)
        #expect(address?.description == "[fe80::5%veth0]:22870")
        #expect(address.flatMap { HostPort($0.description) } == address)
        let mapped = Array(repeating: UInt8(0), count: 10) + [0xFF, 0xFF, 192, 0, 2, 1]
        #expect(AnnouncementSource(.v6(mapped, zone: nil)).dialAddress(port: 1_024)?.description == "192.0.2.1:1024")
        // A system port is never dialed on an announcement's word.
        #expect(AnnouncementSource(.v6(mapped, zone: nil)).dialAddress(port: 25) == nil)
    }

    /// What proved itself comes first: addresses a session went through,
    /// then the configured one, then the unconfirmed ones newest first (what
    /// anyone on the LAN can add); a known address heard again moves up
    /// among the unconfirmed without growing the list.
    @Test func candidatesAreLearnedMostRecentFirstThenConfigured() {
        var book = AddressBook()
        let configured = HostPort(host: "192.0.2.20", port: 22_870)
        _ = book.receive(Self.hearing(Self.peer), from: Self.source(10, 0, 0, 2), own: Self.own, peers: Self.peers, now: Self.at(0))
        _ = book.receive(Self.hearing(Self.peer), from: Self.source(10, 0, 0, 3), own: Self.own, peers: Self.peers, now: Self.at(10))
        #expect(book.candidates(for: Self.peer, configured: configured, now: Self.at(10)).map(\.host) == ["192.0.2.20", "10.0.0.3", "10.0.0.2"])
        #expect(book.receive(Self.hearing(Self.peer), from: Self.source(10, 0, 0, 2), own: Self.own, peers: Self.peers, now: Self.at(20))
                == .refreshed(HostPort(host: "10.0.0.2", port: 22_870), becameFirst: true))
        #expect(book.receive(Self.hearing(Self.peer), from: Self.source(10, 0, 0, 2), own: Self.own, peers: Self.peers, now: Self.at(21))
                == .refreshed(HostPort(host: "10.0.0.2", port: 22_870), becameFirst: false))
        #expect(book.candidates(for: Self.peer, configured: configured, now: Self.at(21)).map(\.host) == ["192.0.2.20", "10.0.0.2", "10.0.0.3"])
        // Once a session went through one, it leads.
        book.connected(Self.peer, via: HostPort(host: "10.0.0.3", port: 22_870), now: Self.at(21))
        #expect(book.candidates(for: Self.peer, configured: configured, now: Self.at(21)).map(\.host) == ["10.0.0.3", "192.0.2.20", "10.0.0.2"])
        // The configured address is not repeated when it was also heard.
        let heardConfigured = HostPort(host: "10.0.0.3", port: 22_870)
        #expect(book.candidates(for: Self.peer, configured: heardConfigured, now: Self.at(21)).count == 2)
        // A new announced port is a new address.
        _ = book.receive(Self.hearing(Self.peer, port: 4_009), from: Self.source(10, 0, 0, 2), own: Self.own, peers: Self.peers, now: Self.at(22))
        #expect(book.candidates(for: Self.peer, configured: nil, now: Self.at(22)).dropFirst().first == HostPort(host: "10.0.0.2", port: 4_009))
    }

    @Test func oldAddressesAreForgottenAndRemovedPeersPruned() {
        var book = AddressBook()
        _ = book.receive(Self.hearing(Self.peer), from: Self.source(10, 0, 0, 2), own: Self.own, peers: Self.peers, now: Self.at(0))
        _ = book.receive(Self.hearing(Self.other), from: Self.source(10, 0, 0, 4), own: Self.own, peers: Self.peers, now: Self.at(0))
        let later = Self.at(AddressBook.maxAge + 1)
        #expect(book.candidates(for: Self.peer, configured: nil, now: Self.at(AddressBook.maxAge)).count == 1)
        #expect(book.candidates(for: Self.peer, configured: nil, now: later).isEmpty)
        book.prune(keeping: [Self.peer], now: Self.at(1))
        #expect(book.learned.keys.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) } == [Self.peer])
        book.prune(keeping: [Self.peer], now: later)
        #expect(book.learned.isEmpty)
    }

    /// At most `maxPerDevice` per peer: a new one pushes out the one heard
    /// longest ago among those never connected through.
    @Test func theListIsBoundedAndConnectedAddressesGoLast() {
        var book = AddressBook()
        for index in 0..<AddressBook.maxPerDevice {
            _ = book.receive(Self.hearing(Self.peer), from: Self.source(10, 0, 0, UInt8(10 + index)), own: Self.own, peers: Self.peers, now: Self.at(Double(index)))
        }
        let confirmed = book.connected(Self.peer, via: HostPort(host: "10.0.0.10", port: 22_870), now: Self.at(5))
        let unknown = book.connected(Self.peer, via: HostPort(host: "192.0.2.1", port: 22_870), now: Self.at(5))
        #expect(confirmed && !unknown)
        let outcome = book.receive(Self.hearing(Self.peer), from: Self.source(10, 0, 0, 99), own: Self.own, peers: Self.peers, now: Self.at(6))
        #expect(outcome == .learned(HostPort(host: "10.0.0.99", port: 22_870), replaced: HostPort(host: "10.0.0.11", port: 22_870)))
        let hosts = book.candidates(for: Self.peer, configured: nil, now: Self.at(6)).map(\.host)
        #expect(hosts.count == AddressBook.maxPerDevice)
        #expect(hosts.first == "10.0.0.10" && hosts.dropFirst().first == "10.0.0.99")
    }

    /// A forger alternating two ports never wakes a dialer again, and an
    /// announcement from off-link is not from this network.
    @Test func aForgerCannotSetTheDialingRateOrComeFromAfar() {
        let addresses = PeerAddresses(file: LearnedAddressFile(directory: FileManager.default.temporaryDirectory.appendingPathComponent("unused-\(UUID().uuidString)")))
        for index in 0..<50 {
            _ = addresses.receive(Self.hearing(Self.peer, port: index % 2 == 0 ? 4_000 : 4_001), from: Self.source(10, 0, 0, 66),
                                  own: Self.own, peers: Self.peers, now: Self.at(Double(index)))
        }
        #expect(addresses.version(of: Self.peer) == 2)
        let lan = [AnnouncementSource.Subnet(address: [10, 0, 0, 1], mask: [255, 255, 255, 0])]
        #expect(Self.source(10, 0, 0, 66).isOnLink(lan))
        #expect(!Self.source(10, 0, 1, 66).isOnLink(lan) && !Self.source(192, 0, 2, 1).isOnLink(lan))
        #expect(AnnouncementSource(.v6([0xFE, 0x80] + Array(repeating: 0, count: 13) + [5], zone: "eth0")).isOnLink([]))
        #expect(!AnnouncementSource(.v6([0x20, 0x01] + Array(repeating: 0, count: 13) + [5], zone: nil)).isOnLink(lan))
    }

    /// Whatever a forger sends, the book stays within its bounds and every
    /// list stays ordered and free of repeats.
    @Test func anyStreamOfAnnouncementsKeepsTheBounds() async {
        let event = zip(Gen.int(in: 0...3), Gen.uint8(in: 0...20), Gen.int(in: 1_000...1_100))
        await propertyCheck(count: 300, input: event.array(of: 0...60)) { events in
            var book = AddressBook()
            let devices = [Self.own, Self.peer, Self.other, Self.stranger]
            for (index, (device, host, port)) in events.enumerated() {
                _ = book.receive(Self.hearing(devices[device], port: UInt16(port)), from: Self.source(10, 1, 0, host),
                                 own: Self.own, peers: Self.peers, now: Self.at(Double(index)))
            }
            #expect(Set(book.learned.keys).isSubset(of: Self.peers))
            for (_, list) in book.learned {
                #expect(list.count <= AddressBook.maxPerDevice)
                #expect(Set(list.map(\.address.description)).count == list.count)
                #expect(list.map(\.lastSeen) == list.map(\.lastSeen).sorted(by: >))
            }
        }
    }

    /// The file keeps what the book holds (to the second) and reads an
    /// unreadable file as empty.
    @Test func theBookSurvivesItsFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("addressbook-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = LearnedAddressFile(directory: directory)
        #expect(file.load() == AddressBook())
        let addresses = PeerAddresses(file: file, now: Self.at(0))
        let linkLocal = AnnouncementSource(.v6([0xFE, 0x80] + Array(repeating: 0, count: 13) + [5], zone: "veth0"))
        _ = addresses.receive(Self.hearing(Self.peer), from: linkLocal, own: Self.own, peers: Self.peers, now: Self.at(1))
        _ = addresses.receive(Self.hearing(Self.peer), from: Self.source(10, 0, 0, 2), own: Self.own, peers: Self.peers, now: Self.at(2))
        #expect(addresses.version(of: Self.peer) == 2 && addresses.version(of: Self.other) == 0)
        let save = try #require(addresses.takeSave(now: Self.at(2)))
        #expect(addresses.takeSave(now: Self.at(3)) == nil)
        try addresses.write(save)
        let reread = PeerAddresses(file: file)
        #expect(reread.candidates(for: Self.peer, configured: nil, now: Self.at(3)).map(\.description) == ["10.0.0.2:22870", "[fe80::5%veth0]:22870"])
        // Heard again: only the time moved, so the next write waits for the refresh interval.
        _ = addresses.receive(Self.hearing(Self.peer), from: Self.source(10, 0, 0, 2), own: Self.own, peers: Self.peers, now: Self.at(4))
        #expect(addresses.takeSave(now: Self.at(5)) == nil)
        #expect(addresses.takeSave(now: Self.at(2 + PeerAddresses.refreshSaveInterval)) != nil)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: file.path))
        #expect(file.load() == AddressBook())
    }
}
