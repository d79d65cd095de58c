import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SyncCore
import TestSupport

/// The ceiling for benchmark 3: how long TLS 1.3 over loopback takes to move
/// the same number of bytes with nothing else to do (NIO on both ends, the
/// same TLS library and device certificates as `syncd`).
enum RawTLS {
    /// Median seconds to send `bytes` from a client to a server that only counts them.
    static func measure(bytes: Int, repetitions: Int) async throws -> Double {
        let root = TemporaryDirectory("syncbench-tls")
        for name in ["server", "client"] { try FileManager.default.createDirectory(at: root.url.appendingPathComponent(name), withIntermediateDirectories: true) }
        let serverIdentity = try DeviceIdentity.loadOrCreate(in: root.url.appendingPathComponent("server"), deviceName: "server").identity
        let clientIdentity = try DeviceIdentity.loadOrCreate(in: root.url.appendingPathComponent("client"), deviceName: "client").identity
        var serverConfig = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(serverIdentity.certificate)],
                                                                    privateKey: .privateKey(serverIdentity.privateKey))
        serverConfig.minimumTLSVersion = .tlsv13
        var clientConfig = TLSConfiguration.makeClientConfiguration()
        clientConfig.certificateChain = [.certificate(clientIdentity.certificate)]
        clientConfig.privateKey = .privateKey(clientIdentity.privateKey)
        clientConfig.minimumTLSVersion = .tlsv13
        clientConfig.certificateVerification = .none
        let serverContext = try NIOSSLContext(configuration: serverConfig)
        let clientContext = try NIOSSLContext(configuration: clientConfig)
        let group = MultiThreadedEventLoopGroup.singleton

        var times: [Double] = []
        for _ in 0..<repetitions {
            let done = group.next().makePromise(of: Void.self)
            let server = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext))
                        try channel.pipeline.syncOperations.addHandler(ByteSink(expected: bytes, done: done))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            let started = ContinuousClock.now
            let client = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: clientContext, serverHostname: nil))
                    }
                }
                .connect(host: "127.0.0.1", port: server.localAddress!.port!).get()
            let chunk = ByteBuffer(repeating: 0x5a, count: 64 * 1_024)
            var sent = 0
            while sent < bytes {
                var last: EventLoopFuture<Void>?
                for _ in 0..<16 where sent < bytes {
                    let size = min(chunk.readableBytes, bytes - sent)
                    last = client.write(chunk.getSlice(at: 0, length: size)!)
                    sent += size
                }
                client.flush()
                try await last?.get()
            }
            try await done.futureResult.get()
            times.append((ContinuousClock.now - started).seconds)
            try await client.close()
            try await server.close()
        }
        return median(times)
    }
}

/// Counts inbound bytes and succeeds `done` when `expected` have arrived.
private final class ByteSink: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let expected: Int
    private let done: EventLoopPromise<Void>
    private var received = 0

    init(expected: Int, done: EventLoopPromise<Void>) {
        self.expected = expected
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
        if received >= expected { done.succeed(()) }
    }
}
