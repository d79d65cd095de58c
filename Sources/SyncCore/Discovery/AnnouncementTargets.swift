#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a daemon's announcements go (pure: decided on the config and the
/// interface's address bytes; `LANDiscovery` only sends).
public enum AnnouncementTargets {
    /// Which families a daemon listening on `listen` announces itself over:
    /// only those a peer can dial it back on. `0.0.0.0` or an IPv4 address:
    /// IPv4; `::` (both families on Linux) or a host name: both; an IPv6
    /// address: IPv6; loopback: neither (peers on the network cannot reach it).
    public static func families(listen: HostPort) -> (ipv4: Bool, ipv6: Bool) {
        if listen.host.lowercased() == "localhost" { return (false, false) }
        var v4 = in_addr()
        if inet_pton(AF_INET, listen.host, &v4) == 1 { return (withUnsafeBytes(of: &v4) { $0[0] } != 127, false) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, listen.host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) { return bytes[15] == 0 ? (true, true) : (false, false) }
            return (false, true)
        }
        return (true, true)
    }

    /// Whether a daemon listening on `listen` announces itself at all.
    public static func announces(listen: HostPort) -> Bool {
        let families = families(listen: listen)
        return families.ipv4 || families.ipv6
    }

    /// The broadcast address of an IPv4 interface: the one it reports, else
    /// (an address added without `brd`) its address with the host bits set;
    /// none for a point-to-point link, a /31 or /32, or 0.0.0.0 and
    /// 255.255.255.255 (which would leave by the default route, not this link).
    public static func broadcast(address: [UInt8], netmask: [UInt8]?, reported: [UInt8]?) -> [UInt8]? {
        let limited: [UInt8] = [255, 255, 255, 255], none: [UInt8] = [0, 0, 0, 0]
        if let reported, reported.count == 4, reported != none, reported != limited, reported != address { return reported }
        guard address.count == 4, let netmask, netmask.count == 4 else { return nil }
        guard netmask.reduce(0, { $0 + $1.nonzeroBitCount }) <= 30 else { return nil }
        let computed = zip(address, netmask).map { $0 | ~$1 }
        return computed == limited ? nil : computed
    }
}
