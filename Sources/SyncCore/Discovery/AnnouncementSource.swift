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
        guard port != 0, let host else { return nil }
        return HostPort(host: host, port: Int(port))
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
