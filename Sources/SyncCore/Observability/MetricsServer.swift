import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// Serves `GET /metrics` in the Prometheus text format on a (loopback) address.
public struct MetricsServer: Sendable {
    let registry: PrometheusCollectorRegistry
    let address: HostPort
    let logger: Logger

    public init(registry: PrometheusCollectorRegistry, address: HostPort, logger: Logger) {
        self.registry = registry
        self.address = address
        self.logger = logger
    }

    public func run() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        logger.info("metrics available", metadata: ["url": "http://\(address)/metrics"])
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await client in inbound {
                    group.addTask { try? await self.serve(client) }
                }
            }
        }
    }

    private func serve(_ client: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await client.executeThenClose { inbound, outbound in
            var path = ""
            for try await part in inbound {
                switch part {
                case .head(let head): path = head.uri
                case .body: break
                case .end:
                    let found = path == "/metrics" || path.hasPrefix("/metrics?")
                    let body = found ? registry.emitToBuffer() : Array("not found; try /metrics\n".utf8)
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4" : "text/plain")
                    headers.add(name: "Content-Length", value: String(body.count))
                    try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: found ? .ok : .notFound, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }
}
