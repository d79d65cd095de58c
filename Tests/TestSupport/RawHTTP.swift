import Foundation

/// A minimal HTTP/1.1 client over a plain socket, one request per
/// connection, so a test controls every header (a forged `Host` or `Origin`
/// that URLSession would not send) and a benchmark pays a new connection
/// per request, as a browser's first request does.
public struct RawHTTP: Sendable {
    public struct Response: CustomStringConvertible, Sendable {
        public let status: Int
        public let headers: [(String, String)]
        public let body: String
        /// From connecting to the last byte received.
        public let elapsed: Duration
        public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        public var description: String { "HTTP \(status)\n\(headers.map { "\($0.0): \($0.1)" }.joined(separator: "\n"))\n\n\(body)" }
        public func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) }
    }

    public let port: Int

    public init(port: Int) { self.port = port }

    /// A TCP connection to 127.0.0.1:`port` (the caller closes it).
    public static func connectSocket(port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket() failed") }
        let connected = withLoopbackAddress(port: port) { connect(descriptor, $0, $1) }
        guard connected == 0 else {
            close(descriptor)
            throw HarnessError("cannot connect to 127.0.0.1:\(port)")
        }
        return descriptor
    }

    public func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: String = "", host: String? = nil) throws -> Response {
        let started = ContinuousClock.now
        let descriptor = try Self.connectSocket(port: port)
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var lines = ["\(method) \(path) HTTP/1.1", "Host: \(host ?? "127.0.0.1:\(port)")", "Connection: close"]
        lines += headers.map { "\($0.0): \($0.1)" }
        if !body.isEmpty || method != "GET" { lines.append("Content-Length: \(body.utf8.count)") }
        let request = Array((lines.joined(separator: "\r\n") + "\r\n\r\n" + body).utf8)
        _ = request.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        let elapsed = ContinuousClock.now - started
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw HarnessError("no HTTP response: \(text)") }
        let headLines = text[..<split.lowerBound].split(separator: "\r\n")
        guard let statusLine = headLines.first, let status = Int(statusLine.split(separator: " ")[1]) else { throw HarnessError("bad status line: \(text)") }
        let parsed = headLines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return Response(status: status, headers: parsed, body: String(text[split.upperBound...]), elapsed: elapsed)
    }
}
