import Foundation
import SyncCore

/// Where the web app may listen and how (pure): loopback is served over plain
/// HTTP; any other address only over HTTPS with a password set.
public enum UIAddressPolicy {
    public enum Mode: Equatable, Sendable {
        case loopbackHTTP
        case remoteHTTPS
    }

    /// Whether a listen host is a loopback address or name.
    public static func isLoopback(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "::1" || lowered == "0:0:0:0:0:0:0:1" { return true }
        let octets = lowered.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// How to serve `address`, or why not (the daemon refuses to start).
    /// Whether a host is a wildcard (every interface): the app answers only
    /// to the name it is given, so a wildcard would answer to nothing.
    public static func isWildcard(_ host: String) -> Bool {
        ["0.0.0.0", "0", "::", "::0", "0:0:0:0:0:0:0:0", "*", ""].contains(host.lowercased())
    }

    public static func mode(for address: HostPort, hasPassword: Bool) -> Result<Mode, UIError> {
        if isLoopback(address.host) { return .success(.loopbackHTTP) }
        if isWildcard(address.host) {
            return .failure(UIError("""
                the web app cannot listen on \(address), every interface: it answers only to the address it is given \
                (the Host header must name it, against DNS rebinding). Give the address browsers will use, for example \
                192.168.1.20:\(DaemonConfig.defaultUIPort), or a loopback address.
                """))
        }
        guard hasPassword else {
            return .failure(UIError("""
                the web app is set to listen on \(address), which is not a loopback address: that needs a password. \
                Set one with `syncctl ui password` (it is then served over HTTPS with the device certificate), \
                or use a loopback address such as 127.0.0.1:\(DaemonConfig.defaultUIPort), or turn the app off with `--ui ""`.
                """))
        }
        return .success(.remoteHTTPS)
    }
}
