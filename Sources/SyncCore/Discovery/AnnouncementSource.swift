#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The address an announcement came from, as the socket reported it: the IP
/// bytes and, for an IPv6 link-local address, the interface it arrived on.
/// Pure: which sources may become a dial address is decided on the bytes.
public struct AnnouncementSource: Sendable, Equatable {
    public enum IP: Sendable, Equatable {
        /// Four bytes.
        case v4([UInt8])
        /// Sixteen bytes; `zone` is the interface name (needed to dial a link-local address).
        case v6([UInt8], zone: String?)
    }

    public var ip: IP

    public init(_ ip: IP) { self.ip = ip }

    /// Where to dial the announcing daemon: the source IP with the port it
    /// announced. Nil for a source no honest daemon sends from (unspecified,
    /// loopback, multicast, broadcast, a link-local IPv6 address without its
    /// interface, a malformed length): such an announcement is dropped.
    public func dialAddress(port: UInt16) -> HostPort? {
        // Below 1024 are the system's services (mail, SSH, …): a forged
        // announcement must not make every daemon on the LAN dial them.
        guard port >= Self.lowestPort, let host else { return nil }
        return HostPort(host: host, port: Int(port))
    }

    /// The lowest listen port an announcement may name.
    public static let lowestPort: UInt16 = 1_024

    /// One of this machine's subnets: an interface address and its netmask, as bytes.
    public struct Subnet: Sendable, Equatable {
        public var address: [UInt8]
        public var mask: [UInt8]
        public init(address: [UInt8], mask: [UInt8]) {
            self.address = address
            self.mask = mask
        }
    }

    /// Whether the source is on one of `subnets` (an IPv6 link-local source
    /// always is): a datagram whose source is off-link was routed or forged,
    /// and no honest daemon's announcement is either.
    public func isOnLink(_ subnets: [Subnet]) -> Bool {
        let bytes: [UInt8]
        switch ip {
        case .v4(let v4): bytes = v4
        case .v6(let v6, _):
            if v6.count == 16, v6[0] == 0xFE, v6[1] & 0xC0 == 0x80 { return true }
            if v6.count == 16, v6[0..<10].allSatisfy({ $0 == 0 }), v6[10] == 0xFF, v6[11] == 0xFF {
                return AnnouncementSource(.v4(Array(v6[12..<16]))).isOnLink(subnets)
            }
            bytes = v6
        }
        return subnets.contains { subnet in
            subnet.address.count == bytes.count && subnet.mask.count == bytes.count
                && bytes.indices.allSatisfy { bytes[$0] & subnet.mask[$0] == subnet.address[$0] & subnet.mask[$0] }
        }
    }

    var host: String? {
        switch ip {
        case .v4(let bytes):
            guard bytes.count == 4 else { return nil }
            if bytes[0] == 0 || bytes[0] == 127 || bytes[0] >= 224 { return nil }
            return bytes.map(String.init).joined(separator: ".")
        case .v6(let bytes, let zone):
            guard bytes.count == 16 else { return nil }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                return AnnouncementSource(.v4(Array(bytes[12..<16]))).host
            }
            if bytes[0] == 0xFF || bytes[0..<15].allSatisfy({ $0 == 0 }) { return nil }
            let text = Self.v6Text(bytes)
            if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0x80 {
                guard let zone, !zone.isEmpty, zone.utf8.count <= 15,
                      zone.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "]") && $0 != UInt8(ascii: "%") }) else { return nil }
                return text + "%" + zone
            }
            return text
        }
    }

    /// RFC 5952 text of sixteen bytes (inet_ntop: no I/O).
    static func v6Text(_ bytes: [UInt8]) -> String {
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { raw in
            for index in 0..<16 { raw[index] = bytes[index] }
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
