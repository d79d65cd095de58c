import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SyncCore

/// A hand-driven TLS client for poking a daemon: it can present any
/// certificate (or none), cap the TLS version, and send arbitrary bytes.
/// Everything the daemon sends is collected for the test to inspect.
struct RawPeer {
    let channel: Channel
    let inbox: Inbox

    static func connect(port: Int, identity: DeviceIdentity?, maximumTLSVersion: TLSVersion? = nil) async throws -> RawPeer {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        if let identity {
            configuration.certificateChain = [.certificate(identity.certificate)]
            configuration.privateKey = .privateKey(identity.privateKey)
        }
        if let maximumTLSVersion {
            configuration.minimumTLSVersion = .tlsv1
            configuration.maximumTLSVersion = maximumTLSVersion
        }
        let context = try NIOSSLContext(configuration: configuration)
        let inbox = Inbox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: nil))
                    try channel.pipeline.syncOperations.addHandler(Collector(inbox))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawPeer(channel: channel, inbox: inbox)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    func send(_ message: SyncMessage) async throws {
        let payload = SyncMessageCodec.encode(message)
        try await send(Self.lengthPrefix(payload.count) + payload)
    }

    static func lengthPrefix(_ length: Int) -> [UInt8] {
        withUnsafeBytes(of: UInt32(length).bigEndian) { Array($0) }
    }

    /// The next frame that is not a keepalive (`ping`, `pong`): a daemon
    /// with `keepalive_seconds: 1` may ping between a request and its
    /// answer when the machine is busy; nil if it closes first.
    func nextReply(timeout: Duration = .seconds(10)) async throws -> SyncMessage? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch try await nextMessage(timeout: deadline - ContinuousClock.now) {
            case .ping?, .pong?: continue
            case let other: return other
            }
        }
        return nil
    }

    /// Waits for the next complete frame from the daemon; nil if it closes first.
    func nextMessage(timeout: Duration = .seconds(10)) async throws -> SyncMessage? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let message = try inbox.takeFrame() { return message }
            if inbox.isClosed { return nil }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    /// Whether the daemon closed the connection within the timeout.
    func waitUntilClosed(timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if inbox.isClosed { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return inbox.isClosed
    }

    func close() { channel.close(promise: nil) }

    /// Opens a session as `identity` speaking the current minor: a hello with
    /// a replica id derived from the device (`ReplicaProof`), then the proof,
    /// without waiting for the daemon's (which arrive as hello, replica-proof).
    @discardableResult
    func introduce(as identity: DeviceIdentity, name: String = "prober", sends: Bool, receives: Bool, highestSeq: UInt64 = 0) async throws -> ReplicaID {
        let nonce = (0..<ReplicaProof.nonceBytes).map { _ in UInt8.random(in: 0...255) }
        let replica = ReplicaProof.replica(device: identity.deviceID, nonce: nonce)
        // Protocol 1.4: the probes predate join by snapshot, so no join
        // decision comes between the hellos and the session.
        try await send(.hello(.init(protocolMinor: 4, replica: replica, deviceName: name, schemaHash: "test", willSend: sends, willReceive: receives,
                                    highestSeq: highestSeq, lineage: SchemaLineage.shipped)))
        try await send(.replicaProof(nonce: nonce))
        return replica
    }

    /// Opens a session with a hello of protocol 1.1, which proves nothing:
    /// how a peer claims an id it did not make (`replica`).
    func introduceUnproven(replica: ReplicaID, name: String = "prober", sends: Bool, receives: Bool) async throws {
        try await send(.hello(.init(protocolMinor: 1, replica: replica, deviceName: name, schemaHash: "test", willSend: sends, willReceive: receives, highestSeq: 0)))
    }
}

/// What the daemon sent, and whether it hung up.
final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var closed = false
    private(set) var receivedTotal = 0
    private(set) var error: Error?

    var isClosed: Bool { lock.withLock { closed } }
    var received: Int { lock.withLock { receivedTotal } }

    func append(_ data: ByteBuffer) { lock.withLock { bytes += data.readableBytesView; receivedTotal += data.readableBytes } }
    func close(_ error: Error?) { lock.withLock { closed = true; if self.error == nil { self.error = error } } }

    func takeFrame() throws -> SyncMessage? {
        try lock.withLock {
            guard bytes.count >= 4 else { return nil }
            let length = bytes[0..<4].reduce(0) { $0 << 8 | Int($1) }
            guard bytes.count >= 4 + length else { return nil }
            let payload = Array(bytes[4..<(4 + length)])
            bytes.removeFirst(4 + length)
            return try SyncMessageCodec.decode(payload)
        }
    }
}

final class Collector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let inbox: Inbox
    init(_ inbox: Inbox) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { inbox.append(unwrapInboundIn(data)) }
    func channelInactive(context: ChannelHandlerContext) { inbox.close(nil) }
    func errorCaught(context: ChannelHandlerContext, error: Error) {
        inbox.close(error)
        context.close(promise: nil)
    }
}
