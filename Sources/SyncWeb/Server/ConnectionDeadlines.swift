import Foundation
import NIOCore
import NIOHTTP1

/// Closes a connection that holds a slot without using it: no request head
/// within `headTimeout` of the connection (or of the previous response),
/// or a request whose body is still arriving after `requestTimeout`. An
/// event stream is exempt once it starts (it writes every few seconds and
/// is closed when the client goes). Sits after the HTTP decoder, so a
/// trickled head or a stalled TLS handshake counts as no head.
final class ConnectionDeadlines: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    /// Time allowed for a request head to arrive (idle keep-alive included).
    static let headTimeout: TimeAmount = .seconds(10)
    /// Time allowed for one request, head to end.
    static let requestTimeout: TimeAmount = .seconds(30)

    private var waitingSince: NIODeadline = .now()
    private var requestStarted: NIODeadline?
    private var check: RepeatedTask?
    /// Set (on the channel's loop) when the response is an event stream.
    let streaming = StreamingFlag()

    func handlerAdded(context: ChannelHandlerContext) {
        waitingSince = .now()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let (handler, context) = loopBound.value
            handler.enforce(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
    }

    private func enforce(context: ChannelHandlerContext) {
        guard !streaming.isSet else { check?.cancel(); return }
        let now = NIODeadline.now()
        if let started = requestStarted {
            if now - started > Self.requestTimeout { context.close(promise: nil) }
        } else if now - waitingSince > Self.headTimeout {
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: requestStarted = .now()
        case .body: break
        case .end:
            requestStarted = nil
            waitingSince = .now()
        }
        context.fireChannelRead(data)
    }
}

/// Whether a connection's response is an event stream (set once, from any thread).
final class StreamingFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
