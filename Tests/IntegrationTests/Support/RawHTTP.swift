import Foundation
import TestSupport

/// A minimal HTTP/1.1 client over a plain socket, so a test controls every
/// header (a forged `Host` or `Origin` that URLSession would not send).
struct RawHTTP {
    struct Response: CustomStringConvertible {
        let status: Int
        let headers: [(String, String)]
        let body: String
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var description: String { "HTTP \(status)\n\(headers.map { "\($0.0): \($0.1)" }.joined(separator: "\n"))\n\n\(body)" }
        func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(body.utf8), options: [.fragmentsAllowed]) }
    }

    let port: Int

    func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: String = "", host: String? = nil) throws -> Response {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw HarnessError("cannot connect to 127.0.0.1:\(port)") }
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
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw HarnessError("no HTTP response: \(text)") }
        let headLines = text[..<split.lowerBound].split(separator: "\r\n")
        guard let statusLine = headLines.first, let status = Int(statusLine.split(separator: " ")[1]) else { throw HarnessError("bad status line: \(text)") }
        let parsed = headLines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return Response(status: status, headers: parsed, body: String(text[split.upperBound...]))
    }
}
