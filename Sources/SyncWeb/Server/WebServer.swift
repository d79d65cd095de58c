import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SyncCore

/// The web app's HTTP/1.1 server (a thin NIO driver around `WebApp`): plain
/// HTTP on loopback, HTTPS with the device certificate elsewhere.
public struct WebServer: Sendable {
    public let address: HostPort
    let mode: UIAddressPolicy.Mode
    let tls: NIOSSLContext?
    let makeApp: @Sendable (Int) -> WebApp
    let logger: Logger

    /// Request bodies are read up to this size; larger ones get 413.
    public static let maxBodyBytes = 1 << 20
    /// Connections served at once; more are closed on arrival. A connection
    /// that sends no request head for 10 s, or takes 30 s over one request,
    /// is closed (`ConnectionDeadlines`), so idle sockets cannot hold them all.
    public static let maxConnections = 128
    /// Event streams open at once; more get 503.
    public static let maxEventStreams = 32

    /// Headers every response carries.
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]

    public init(address: HostPort, mode: UIAddressPolicy.Mode, identity: DeviceIdentity?, logger: Logger,
                makeApp: @escaping @Sendable (Int) -> WebApp) throws {
        self.address = address
        self.mode = mode
        self.logger = logger
        self.makeApp = makeApp
        if mode == .remoteHTTPS, let identity {
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(identity.certificate)],
                                                                         privateKey: .privateKey(identity.privateKey))
            configuration.minimumTLSVersion = .tlsv12
            tls = try NIOSSLContext(configuration: configuration)
        } else {
            tls = nil
        }
    }

    /// Binds, reports the bound port through `onBound`, and serves until cancelled.
    public func run(onBound: @Sendable (Int) -> Void = { _ in }) async throws {
        let tls = self.tls
        let server: NIOAsyncChannel<(NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, StreamingFlag), Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: false)
                .bind(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        let deadlines = ConnectionDeadlines()
                        try channel.pipeline.syncOperations.addHandler(deadlines)
                        return (try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel), deadlines.streaming)
                    }
                }
        } catch {
            throw UIError("cannot serve the web app on \(address): \(error). Another program (or another syncd) may use that port: set `ui:` in the config or pass `--ui HOST:PORT` (`--ui \"\"` turns the app off).")
        }
        let port = server.channel.localAddress?.port ?? address.port
        let app = makeApp(port)
        onBound(port)
        let counter = ConnectionCounter()
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await (client, streaming) in inbound {
                    guard counter.enter(limit: Self.maxConnections) else {
                        try? await client.channel.close()
                        continue
                    }
                    group.addTask {
                        defer { counter.leave() }
                        try? await serve(client, app: app, streams: counter, streaming: streaming)
                    }
                }
            }
        }
    }

    private func serve(_ client: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, app: WebApp, streams: ConnectionCounter,
                       streaming: StreamingFlag) async throws {
        try await client.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            var tooLarge = false
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.removeAll(keepingCapacity: true)
                    tooLarge = false
                case .body(let buffer):
                    if body.count + buffer.readableBytes > Self.maxBodyBytes { tooLarge = true } else { body += buffer.readableBytesView }
                case .end:
                    guard let requestHead = head else { continue }
                    if tooLarge {
                        try await write(.error(413, "the request body is larger than \(Self.maxBodyBytes) bytes"), head: requestHead, to: outbound, keepAlive: false)
                        return
                    }
                    let request = WebRequest(method: requestHead.method.rawValue, uri: requestHead.uri,
                                             headers: requestHead.headers.map { ($0.name, $0.value) }, body: body,
                                             remote: client.channel.remoteAddress?.ipAddress)
                    switch await app.respond(to: request) {
                    case .response(let response):
                        try await write(response, head: requestHead, to: outbound, keepAlive: requestHead.isKeepAlive)
                        if !requestHead.isKeepAlive { return }
                    case .eventStream(let resumeAfter, let stillAuthorized):
                        try await stream(head: requestHead, to: outbound, streams: streams, streaming: streaming) { send in
                            try await EventStream(context: app.context).run(resumeAfter: resumeAfter, stillAuthorized: stillAuthorized, send: send)
                        }
                        return
                    case .watchStream(let watch, let stillAuthorized):
                        try await stream(head: requestHead, to: outbound, streams: streams, streaming: streaming) { send in
                            try await WatchStream(watch: watch).run(stillAuthorized: stillAuthorized, send: send)
                        }
                        return
                    }
                }
            }
        }
    }

    private func write(_ response: WebResponse, head: HTTPRequestHead, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
                       keepAlive: Bool) async throws {
        var headers = HTTPHeaders(Self.securityHeaders + response.headers)
        if !response.headers.contains(where: { $0.0.lowercased() == "cache-control" }) { headers.add(name: "Cache-Control", value: "no-store") }
        headers.add(name: "Content-Length", value: String(response.body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)))
        if head.method != .HEAD, !response.body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body)))) }
        try await outbound.write(.end(nil))
    }

    /// Runs one live stream (events or a watched query) on this connection,
    /// within the limit of streams open at once.
    private func stream(head: HTTPRequestHead, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
                        streams: ConnectionCounter, streaming: StreamingFlag,
                        _ body: (@Sendable (String) async throws -> Void) async throws -> Void) async throws {
        guard streams.enterStream(limit: Self.maxEventStreams) else {
            try await write(.error(503, "too many live pages open (\(Self.maxEventStreams)); close some tabs"), head: head, to: outbound, keepAlive: false)
            return
        }
        defer { streams.leaveStream() }
        streaming.set()
        var headers = HTTPHeaders(Self.securityHeaders)
        headers.add(name: "Content-Type", value: "text/event-stream; charset=utf-8")
        headers.add(name: "Cache-Control", value: "no-store")
        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers)))
        try await body { text in
            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
        }
    }
}


/// Counts open connections and event streams against their limits.
final class ConnectionCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var connections = 0
    private var streams = 0

    func enter(limit: Int) -> Bool { lock.withLock { connections < limit ? { connections += 1; return true }() : false } }
    func leave() { lock.withLock { connections -= 1 } }
    func enterStream(limit: Int) -> Bool { lock.withLock { streams < limit ? { streams += 1; return true }() : false } }
    func leaveStream() { lock.withLock { streams -= 1 } }
}
