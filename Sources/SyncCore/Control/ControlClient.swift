import Foundation

/// Talks to a running daemon over its control socket (blocking; for `syncctl`).
public struct ControlClient {
    public let path: String

    public init(path: String) { self.path = path }

    /// Sends one request and reads one response line.
    public func send(_ request: ControlRequest, timeout: Double = 10) throws -> ControlResponse {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ControlError.notRunning(path: path, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw ControlError.notRunning(path: path, reason: "socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw ControlError.notRunning(path: path, reason: String(cString: strerror(errno))) }
        var time = timeval(tv_sec: Int(timeout + 5), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var payload = try JSONEncoder().encode(request)
        payload.append(UInt8(ascii: "\n"))
        _ = payload.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !received.contains(UInt8(ascii: "\n")) {
            let count = read(descriptor, &buffer, buffer.count)
            guard count > 0 else { throw ControlError.noAnswer(path: path) }
            received.append(contentsOf: buffer[0..<count])
        }
        let line = received.prefix { $0 != UInt8(ascii: "\n") }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(ControlResponse.self, from: line)
    }
}

public enum ControlError: Error, CustomStringConvertible {
    case notRunning(path: String, reason: String)
    case noAnswer(path: String)

    public var description: String {
        switch self {
        case .notRunning(let path, let reason):
            return "the daemon is not running (no answer on \(path): \(reason)). Start it with `syncd` (or `swift run syncd`), with the same --data-dir."
        case .noAnswer(let path):
            return "the daemon did not answer on \(path) in time; check its log."
        }
    }
}
