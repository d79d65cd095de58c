import Synchronization
import Foundation
import NIOCore

/// Per-connection facts filled in by the pipeline: the peer's device ID (set by
/// the TLS verification callback) and byte counters (set by the frame codec).
public final class ConnectionContext: Sendable {
    private struct State {
        var device: DeviceID?
        var viaTeamCA = false
        var viaInvitation = false
        var onProbation = false
        var certificateName: String?
        var bytesIn: UInt64 = 0
        var bytesOut: UInt64 = 0
    }

    private let state = Mutex(State())
    public let remote: String

    public init(remote: String) { self.remote = remote }

    public var device: DeviceID? {
        get { state.withLock { $0.device } }
        set { state.withLock { $0.device = newValue } }
    }

    /// Admitted because the team CA signed its certificate, not by the peer list.
    public var viaTeamCA: Bool {
        get { state.withLock { $0.viaTeamCA } }
        set { state.withLock { $0.viaTeamCA = newValue } }
    }

    /// Admitted only to claim an invitation (replication-model §6.2): an
    /// unknown device, held to the hello's frame limit (`onProbation`) until
    /// its claim is accepted.
    public var viaInvitation: Bool {
        get { state.withLock { $0.viaInvitation } }
        set { state.withLock { $0.viaInvitation = newValue; $0.onProbation = newValue } }
    }

    /// The common name in the presented certificate (what its owner named
    /// the device), kept for a device admitted to claim an invitation.
    public var certificateName: String? {
        get { state.withLock { $0.certificateName } }
        set { state.withLock { $0.certificateName = newValue } }
    }

    /// Frames are held to `FrameDecoder.helloFrameLimit` while true.
    public var onProbation: Bool {
        get { state.withLock { $0.onProbation } }
        set { state.withLock { $0.onProbation = newValue } }
    }

    func addIn(_ count: Int) { state.withLock { $0.bytesIn += UInt64(count) } }
    func addOut(_ count: Int) { state.withLock { $0.bytesOut += UInt64(count) } }

    /// Bytes since the last call (for the registry's running totals).
    func takeCounts() -> (in: UInt64, out: UInt64) {
        state.withLock { state in
            defer { state.bytesIn = 0; state.bytesOut = 0 }
            return (state.bytesIn, state.bytesOut)
        }
    }
}

/// Counts raw bytes in both directions below the frame codec.
final class ByteCounter: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let context: ConnectionContext
    init(_ context: ConnectionContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.context.addIn(unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        self.context.addOut(unwrapOutboundIn(data).readableBytes)
        context.write(data, promise: promise)
    }
}

/// Turns a read-idle event into an error, so a silent peer or a frame stalled
/// halfway closes the connection with a reason.
final class IdleTimeoutHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    let seconds: Double
    init(seconds: Double) { self.seconds = seconds }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            context.fireErrorCaught(SessionError.idle(seconds: seconds))
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

/// Why a session ended.
public enum SessionError: Error, Equatable, CustomStringConvertible {
    case idle(seconds: Double)
    case protocolViolation(String)
    case refused(String)
    case closedByPeer(String)
    /// The peer let `queued` of our messages pile up unread.
    case notReading(queued: Int)

    /// A peer's goodbye reason, cut to 500 characters: it goes to logs and
    /// `syncctl status`.
    static func bounded(_ reason: String) -> String {
        reason.count > 500 ? reason.prefix(500) + "… (\(reason.utf8.count) bytes)" : reason
    }

    /// A violation or a peer that stops reading: counted and logged as a warning.
    public var isPeerFault: Bool {
        switch self {
        case .protocolViolation, .notReading: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .notReading(let queued): "peer does not read: \(queued) messages wait for it (limit); disconnected rather than buffered"
        case .idle(let seconds): "no complete frame for \(seconds) s (peer silent, or a frame stalled halfway)"
        case .protocolViolation(let what): "protocol violation: \(what)"
        case .refused(let why): "refused: \(why)"
        case .closedByPeer(let why): "closed by peer: \(why)"
        }
    }
}
