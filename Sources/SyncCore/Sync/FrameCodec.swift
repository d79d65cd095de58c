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

    public init(maxFrameBytes: Int) { self.maxFrameBytes = maxFrameBytes }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard length > 0 else { throw FrameError.empty }
        guard Int(length) <= maxFrameBytes else { throw FrameError.tooLarge(length: Int(length), limit: maxFrameBytes) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
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

    public var description: String {
        switch self {
        case .tooLarge(let length, let limit): "frame of \(length) bytes exceeds the \(limit)-byte limit"
        case .empty: "empty frame"
        case .undecodable(let reason): "undecodable frame: \(reason)"
        case .truncated(let buffered): "connection ended inside a frame (\(buffered) bytes buffered)"
        }
    }
}
