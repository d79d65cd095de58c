import NIOCore
import NIOPosix

/// Where other machines can dial this daemon, for an invitation: the listen
/// address itself, or for a wildcard listen (`0.0.0.0`, `::`) the addresses
/// of this machine's interfaces (not loopback, not IPv6 link-local, which
/// needs an interface name to dial), IPv4 first.
public enum LocalAddresses {
    public static func dialable(listen: HostPort) -> [HostPort] {
        guard ["0.0.0.0", "::", "", "*"].contains(listen.host) else { return [listen] }
        let wantsIPv6 = listen.host == "::"
        let devices = (try? System.enumerateDevices()) ?? []
        var v4: [HostPort] = []
        var v6: [HostPort] = []
        for device in devices where !isVirtualBridge(device.name) {
            guard let address = device.address, let ip = address.ipAddress else { continue }
            switch address.protocol {
            case .inet:
                if !ip.hasPrefix("127.") { v4.append(HostPort(host: ip, port: listen.port)) }
            case .inet6 where wantsIPv6:
                if ip != "::1", !ip.lowercased().hasPrefix("fe80") { v6.append(HostPort(host: ip, port: listen.port)) }
            default:
                continue
            }
        }
        let found = Array((v4 + v6).prefix(InvitationCode.maxAddresses))
        return found.isEmpty ? [HostPort(host: "127.0.0.1", port: listen.port)] : found
    }

    /// Container and VM bridges: every machine has the same 172.17.0.1, so
    /// such an address in a code would lead the joiner to itself.
    static func isVirtualBridge(_ name: String) -> Bool {
        ["docker", "br-", "virbr", "veth", "lxc", "lxd", "cni", "flannel", "podman", "vmnet", "vboxnet"].contains { name.hasPrefix($0) }
    }

    /// This machine's own interface addresses (loopback left out).
    public static func own() -> Set<String> {
        Set(((try? System.enumerateDevices()) ?? []).compactMap { $0.address?.ipAddress }.filter { !$0.hasPrefix("127.") && $0 != "::1" })
    }

    /// Whether only this machine can dial `listen`.
    public static func isLoopbackOnly(_ listen: HostPort) -> Bool {
        listen.host == "localhost" || listen.host == "::1" || listen.host.hasPrefix("127.")
    }
}

/// Which of an invitation's addresses answers from here (a TCP connect, no
/// data sent), so `syncctl join` writes one that works.
public enum AddressProbe {
    public static func firstAnswering(_ addresses: [HostPort], timeoutMillis: Int64 = 2_000) -> HostPort? {
        for address in addresses {
            let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.milliseconds(timeoutMillis))
            if let channel = try? bootstrap.connect(host: address.host, port: address.port).wait() {
                try? channel.close().wait()
                return address
            }
        }
        return nil
    }
}
