import PropertyBased
import Testing
@testable import SyncCore

/// The LAN discovery datagram (docs/protocol.md, "LAN discovery"): exact
/// layout, strict decoding, no trap on any input.
@Suite("LAN discovery announcement", .timeLimit(.minutes(3)))
struct AnnouncementTests {
    static let device = DeviceID(hash: Array(100..<132))

    @Test func theLayoutIsFixed() throws {
        let announcement = Announcement(device: Self.device, port: 22_870, instance: 0x0102_0304_0506_0708)
        let bytes = announcement.encoded()
        #expect(bytes.count == Announcement.byteCount && bytes.count == 47)
        #expect(Array(bytes[0..<4]) == Array("SYDA".utf8))
        #expect(bytes[4] == 1)
        #expect(Array(bytes[5..<37]) == Self.device.bytes)
        #expect(Array(bytes[37..<39]) == [0x59, 0x56])
        #expect(Array(bytes[39..<47]) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try Announcement.decode(bytes) == announcement)
    }

    @Test func anythingButAnExactAnnouncementIsRefused() throws {
        let bytes = Announcement(device: Self.device, port: 1, instance: 9).encoded()
        #expect(throws: Announcement.DecodeError.length(46)) { try Announcement.decode(bytes.dropLast()) }
        #expect(throws: Announcement.DecodeError.length(48)) { try Announcement.decode(bytes + [0]) }
        #expect(throws: Announcement.DecodeError.length(0)) { try Announcement.decode([]) }
        var magic = bytes
        magic[0] = UInt8(ascii: "s")
        #expect(throws: Announcement.DecodeError.magic) { try Announcement.decode(magic) }
        var version = bytes
        version[4] = 2
        #expect(throws: Announcement.DecodeError.version(2)) { try Announcement.decode(version) }
        var port = bytes
        port[37] = 0
        port[38] = 0
        #expect(throws: Announcement.DecodeError.port) { try Announcement.decode(port) }
        // A datagram longer than the receiver reads arrives cut to `maxDatagramBytes`: still the wrong length.
        #expect(Announcement.maxDatagramBytes > Announcement.byteCount)
    }

    @Test func everyAnnouncementRoundTrips() async {
        await propertyCheck(count: 1_000, input: Gen.uint8(in: 0...255).array(of: 32), Gen.int(in: 1...65_535), Gen.uint64(in: 0...UInt64.max)) { id, port, instance in
            let announcement = Announcement(device: DeviceID(hash: id), port: UInt16(port), instance: instance)
            #expect((try? Announcement.decode(announcement.encoded())) == announcement)
        }
    }

    /// Random bytes, and valid announcements with one byte changed or cut
    /// short, never trap; what decodes re-encodes to the same bytes.
    @Test func decodingNeverTrapsAndWhatDecodesIsCanonical() async {
        await propertyCheck(count: 5_000, input: Gen.uint8(in: 0...255).array(of: 0...80)) { bytes in
            if let announcement = try? Announcement.decode(bytes) { #expect(announcement.encoded() == bytes) }
        }
        let valid = Announcement(device: Self.device, port: 22_870, instance: 42).encoded()
        await propertyCheck(count: 2_000, input: Gen.int(in: 0...46), Gen.uint8(in: 0...255), Gen.int(in: 0...47)) { position, byte, length in
            var bytes = valid
            bytes[position] = byte
            if let announcement = try? Announcement.decode(bytes) { #expect(announcement.encoded() == bytes) }
            #expect((try? Announcement.decode(bytes.prefix(length))) == nil || length == 47)
        }
    }
}
