import Foundation
import NIOCore
import NIOHTTP1

/// Closes a connection that holds a slot without using it: no request head
/// within `headTimeout` of the connection (or of the previous response's
/// end), or a request still arriving after `requestTimeout`. While the
/// server works on an answer there is no deadline (a login delay, a
/// snapshot); the head timer starts again when the response's end is
/// written. An event stream is exempt once it starts. Sits after the HTTP
/// decoder, so a trickled head or a stalled TLS handshake counts as no head.
final class ConnectionDeadlines: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Time allowed for a request head to arrive (idle keep-alive included).
    static let headTimeout: TimeAmount = .seconds(10)
    /// Time allowed for one request to arrive, head to end.
    static let requestTimeout: TimeAmount = .seconds(30)

    private enum Phase {
        case waiting(since: NIODeadline)
        case receiving(since: NIODeadline)
        case answering
    }

    private var phase: Phase = .waiting(since: .now())
    private var check: RepeatedTask?
    /// Set when the response is an event stream.
    let streaming = StreamingFlag()

    func handlerAdded(context: ChannelHandlerContext) {
        phase = .waiting(since: .now())
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let (handler, context) = loopBound.value
            handler.enforce(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    private func enforce(context: ChannelHandlerContext) {
        guard !streaming.isSet else { check?.cancel(); return }
        let now = NIODeadline.now()
        switch phase {
        case .waiting(let since) where now - since > Self.headTimeout: context.close(promise: nil)
        case .receiving(let since) where now - since > Self.requestTimeout: context.close(promise: nil)
        default: break
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: phase = .receiving(since: .now())
        case .body: break
        case .end: phase = .answering
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), case .answering = phase { phase = .waiting(since: .now()) }
        context.write(data, promise: promise)
    }
}

/// Whether a connection's response is an event stream (set once, from any thread).
final class StreamingFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
