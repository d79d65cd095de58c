/// One LAN discovery datagram (docs/protocol.md, "LAN discovery"): who is
/// here and which TCP port it listens on. It carries no dataset content and
/// proves nothing: a peer is still trusted only by its device ID in the TLS
/// handshake, so a forged announcement can at worst make us dial an address
/// whose handshake then fails.
///
/// Layout, 47 bytes, big-endian:
///
/// ```
/// magic "SYDA" (4) | version 1 (1) | device ID (32) | listen port (2) | instance (8)
/// ```
///
/// Decoding is strict: anything but exactly this is refused, so a stranger's
/// datagram (another program on the port, a later version, a truncated or
/// padded packet) is dropped before it touches any state.
public struct Announcement: Sendable, Equatable {
    /// The announcing device.
    public var device: DeviceID
    /// The TCP port its syncd listens on for peers (1…65535).
    public var port: UInt16
    /// Random per process: a new value means the peer restarted, which we
    /// answer with an announcement of our own at once (so it learns us
    /// without waiting a whole interval).
    public var instance: UInt64

    public init(device: DeviceID, port: UInt16, instance: UInt64) {
        self.device = device
        self.port = port
        self.instance = instance
    }

    public static let magic: [UInt8] = Array("SYDA".utf8)
    public static let version: UInt8 = 1
    /// The only length a version-1 announcement has.
    public static let byteCount = 4 + 1 + 32 + 2 + 8
    /// How much of a datagram the receiver reads: a longer one arrives cut to
    /// this and is refused for its length, so a datagram never costs more.
    public static let maxDatagramBytes = 64

    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.reserveCapacity(Self.byteCount)
        bytes.append(Self.version)
        bytes += device.bytes
        bytes.append(UInt8(port >> 8))
        bytes.append(UInt8(port & 0xFF))
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((instance >> UInt64(shift)) & 0xFF)) }
        return bytes
    }

    /// Why a datagram is not an announcement (logged at debug, never answered).
    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case length(Int)
        case magic
        case version(UInt8)
        case port

        public var description: String {
            switch self {
            case .length(let count): "\(count) bytes, an announcement has \(Announcement.byteCount)"
            case .magic: "not an announcement (magic bytes differ)"
            case .version(let version): "announcement version \(version), this build reads \(Announcement.version)"
            case .port: "listen port 0"
            }
        }
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws(DecodeError) -> Announcement {
        let bytes = Array(bytes)
        guard bytes.count == byteCount else { throw .length(bytes.count) }
        guard bytes[0..<4].elementsEqual(magic) else { throw .magic }
        guard bytes[4] == version else { throw .version(bytes[4]) }
        let device = DeviceID(hash: Array(bytes[5..<37]))
        let port = UInt16(bytes[37]) << 8 | UInt16(bytes[38])
        guard port != 0 else { throw .port }
        let instance = bytes[39..<47].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Announcement(device: device, port: port, instance: instance)
    }
}
