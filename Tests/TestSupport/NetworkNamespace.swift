import Foundation

/// Network namespaces a test makes for itself (root and iproute2 only), so
/// that traffic no test may send on the machine's own network — LAN
/// discovery's broadcasts and multicasts — stays inside them. Two
/// namespaces joined by a veth pair whose ends are created directly in
/// them (`ip -n A link add … peer … netns B`): no interface of the test ever
/// exists in the machine's own namespace. Removed on `remove()` or deinit;
/// the names carry the test process's id, so runs do not collide.
public final class NetworkNamespacePair: @unchecked Sendable {
    public let a: NetworkNamespace
    public let b: NetworkNamespace
    private let lock = NSLock()
    private var removed = false

    nonisolated(unsafe) private static var made = 0
    private static let counter = NSLock()

    /// Makes the pair with the links up and, per side, the given addresses
    /// (`10.231.0.1/24`, …). `ipv6: false` turns IPv6 off in both
    /// namespaces; with it on, duplicate address detection is off so the
    /// link-local addresses are usable at once.
    public init(ipv6: Bool, addressesA: [String], addressesB: [String]) throws {
        let number = Self.counter.withLock { Self.made += 1; return Self.made }
        let pid = ProcessInfo.processInfo.processIdentifier
        a = NetworkNamespace(name: "syncd-test-\(pid)-\(number)-a", link: "sda\(pid)n\(number)")
        b = NetworkNamespace(name: "syncd-test-\(pid)-\(number)-b", link: "sdb\(pid)n\(number)")
        do {
            for namespace in [a, b] {
                // A leftover of a crashed run with the same pid goes first.
                _ = try? NetworkNamespace.ip(["netns", "del", namespace.name])
                try NetworkNamespace.ip(["netns", "add", namespace.name])
                try namespace.ip(["link", "set", "lo", "up"])
                let settings = ipv6
                    ? ["net/ipv6/conf/all/accept_dad": "0", "net/ipv6/conf/default/accept_dad": "0"]
                    : ["net/ipv6/conf/all/disable_ipv6": "1", "net/ipv6/conf/default/disable_ipv6": "1"]
                for (key, value) in settings.sorted(by: { $0.key < $1.key }) { try namespace.sysctl(key, value) }
            }
            try a.ip(["link", "add", a.link, "type", "veth", "peer", "name", b.link, "netns", b.name])
            for (namespace, addresses) in [(a, addressesA), (b, addressesB)] {
                for address in addresses { try namespace.addAddress(address) }
                try namespace.ip(["link", "set", namespace.link, "up"])
            }
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    /// Deletes both namespaces (the veth pair goes with them). Stop the
    /// daemons first: a process inside keeps its namespace alive.
    public func remove() {
        let first = lock.withLock { defer { removed = true }; return !removed }
        guard first else { return }
        for namespace in [a, b] { _ = try? NetworkNamespace.ip(["netns", "del", namespace.name]) }
    }

    /// Whether this machine lets a test make namespaces: root, iproute2,
    /// and `ip netns add` works (a container may forbid it).
    public static let available: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: NetworkNamespace.ipTool) else { return false }
        let probe = "syncd-test-probe-\(ProcessInfo.processInfo.processIdentifier)"
        guard (try? NetworkNamespace.ip(["netns", "add", probe])) != nil else { return false }
        _ = try? NetworkNamespace.ip(["netns", "del", probe])
        return true
    }()
}

/// One namespace of a `NetworkNamespacePair`, with its end of the veth pair.
public struct NetworkNamespace: Sendable {
    public let name: String
    /// Its end of the veth pair.
    public let link: String

    /// iproute2's `ip`.
    public static let ipTool = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"

    /// Runs `ip` inside this namespace (`ip -n NAME …`).
    public func ip(_ arguments: [String]) throws { try Self.ip(["-n", name] + arguments) }

    public func addAddress(_ address: String) throws { try ip(["addr", "add", address, "dev", link]) }
    public func removeAddress(_ address: String) throws { try ip(["addr", "del", address, "dev", link]) }

    /// Sets a sysctl of this namespace (`net/…` under /proc/sys, seen from inside it).
    public func sysctl(_ key: String, _ value: String) throws {
        try Self.ip(["netns", "exec", name, "/bin/sh", "-c", "echo \(value) > /proc/sys/\(key)"])
    }

    /// Runs `ip` and fails with what it printed.
    @discardableResult
    public static func ip(_ arguments: [String]) throws -> String {
        let run = try CapturedProcess.run(ipTool, arguments)
        guard run.status == 0 else {
            throw HarnessError("ip \(arguments.joined(separator: " ")) failed (\(run.status)): \(run.stderr)")
        }
        return run.stdout
    }
}
