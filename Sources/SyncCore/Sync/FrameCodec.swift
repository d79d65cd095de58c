import NIOCore

/// Splits the byte stream into frames: a 4-byte big-endian length, then that
/// many bytes of message payload (see `SyncMessageCodec`).
///
/// A length over `maxFrameBytes`, an unknown message type or undecodable bytes
/// raise `FrameError`, which closes the connection with that reason. The length
/// is checked before any payload is buffered, so an oversized claim costs nothing.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = SyncMessage

    public let maxFrameBytes: Int
    /// How long one frame may take to arrive whole: a peer trickling a frame
    /// a byte at a time (which keeps the read-idle timer quiet) is cut off.
    public let frameDeadline: TimeAmount
    private let now: @Sendable () -> NIODeadline
    /// True while the connection has not been admitted yet (an unknown
    /// device claiming an invitation): every frame is held to the hello limit.
    private let probation: @Sendable () -> Bool
    /// When the first byte of the frame now being buffered arrived.
    private var partialSince: NIODeadline?
    /// Whether the first frame (the hello) has been decoded.
    private var sawFirstFrame = false

    /// The first frame is a hello, a few hundred bytes: a connection that has
    /// not said who it is may not make us buffer more than this.
    public static let helloFrameLimit = 64 << 10

    public init(maxFrameBytes: Int, frameDeadline: TimeAmount = .seconds(120), now: @escaping @Sendable () -> NIODeadline = { .now() },
                probation: @escaping @Sendable () -> Bool = { false }) {
        self.maxFrameBytes = maxFrameBytes
        self.frameDeadline = frameDeadline
        self.now = now
        self.probation = probation
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes > 0 else {
            partialSince = nil
            return .needMoreData
        }
        let started = partialSince ?? now()
        partialSince = started
        if now() - started > frameDeadline { throw FrameError.tooSlow(limit: frameDeadline) }
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard length > 0 else { throw FrameError.empty }
        let limit = sawFirstFrame && !probation() ? maxFrameBytes : min(maxFrameBytes, Self.helloFrameLimit)
        guard Int(length) <= limit else { throw FrameError.tooLarge(length: Int(length), limit: limit) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        partialSince = nil
        sawFirstFrame = true
        buffer.moveReaderIndex(forwardBy: 4)
        let payload = buffer.readBytes(length: Int(length))!
        do {
            context.fireChannelRead(wrapInboundOut(try SyncMessageCodec.decode(payload)))
        } catch {
            throw FrameError.undecodable(error.description)
        }
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 { throw FrameError.truncated(buffered: buffer.readableBytes) }
        return .needMoreData
    }
}

/// Writes a message as one length-prefixed frame.
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = SyncMessage

    public init() {}

    public func encode(data: SyncMessage, out: inout ByteBuffer) throws {
        let payload = SyncMessageCodec.encode(data)
        out.writeInteger(UInt32(payload.count))
        out.writeBytes(payload)
    }
}

/// Why a peer's bytes were refused; the connection is closed with this reason.
public enum FrameError: Error, Equatable, CustomStringConvertible {
    case tooLarge(length: Int, limit: Int)
    case empty
    case undecodable(String)
    case truncated(buffered: Int)
    case tooSlow(limit: TimeAmount)

    public var description: String {
        switch self {
        case .tooLarge(let length, let limit): "frame of \(length) bytes exceeds the \(limit)-byte limit"
        case .empty: "empty frame"
        case .undecodable(let reason): "undecodable frame: \(reason)"
        case .truncated(let buffered): "connection ended inside a frame (\(buffered) bytes buffered)"
        case .tooSlow(let limit): "a frame did not arrive whole within \(limit.nanoseconds / 1_000_000_000) s (trickled)"
        }
    }
}
