/// Reads what `BinaryWriter` wrote, refusing anything malformed with a `DecodingError`.
///
/// Every read checks bounds; a decoder built on it never traps on hostile input,
/// which the fuzz tests rely on.
public struct BinaryReader {
    public let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var isAtEnd: Bool { offset >= bytes.count }
    public var remaining: Int { bytes.count - offset }

    public mutating func readByte() throws(BinaryDecodingError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(at: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readVarint() throws(BinaryDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            if shift == 63 && byte > 1 { throw .malformed("varint overflows 64 bits", at: offset) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 { throw .malformed("varint is not minimally encoded", at: offset) }
                return result
            }
            shift += 7
            if shift > 63 { throw .malformed("varint longer than 10 bytes", at: offset) }
        }
    }

    public mutating func readSignedVarint() throws(BinaryDecodingError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func readFixed64() throws(BinaryDecodingError) -> UInt64 {
        guard remaining >= 8 else { throw .truncated(at: offset) }
        var value: UInt64 = 0
        for index in offset..<(offset + 8) { value = value << 8 | UInt64(bytes[index]) }
        offset += 8
        return value
    }

    /// A length that must fit in what is left of the input.
    public mutating func readLength() throws(BinaryDecodingError) -> Int {
        let length = try readVarint()
        guard length <= UInt64(remaining) else { throw .truncated(at: offset) }
        return Int(length)
    }

    public mutating func readString() throws(BinaryDecodingError) -> String {
        let length = try readLength()
        let slice = bytes[offset..<(offset + length)]
        offset += length
        // Decoded (repairing) from a buffer pointer, then compared byte for
        // byte: repaired bytes differ, so this is validation. The generic
        // `String(validating:as:)` looks type metadata up at every call (a
        // third of decoding a record row).
        let decoded = slice.withUnsafeBufferPointer { buffer -> String? in
            let string = String(decoding: buffer, as: UTF8.self)
            return UTF8Identity.bytes(buffer, equal: string) ? string : nil
        }
        guard let string = decoded else {
            throw .malformed("string is not valid UTF-8", at: offset - length)
        }
        return string
    }

    public mutating func readBlob() throws(BinaryDecodingError) -> [UInt8] {
        let length = try readLength()
        defer { offset += length }
        return Array(bytes[offset..<(offset + length)])
    }

    public mutating func readRaw(count: Int) throws(BinaryDecodingError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw .truncated(at: offset) }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    public mutating func readReplica() throws(BinaryDecodingError) -> ReplicaID {
        let high = try readFixed64()
        let low = try readFixed64()
        return ReplicaID(high: high, low: low)
    }
}

/// Why bytes could not be decoded.
public enum BinaryDecodingError: Error, Equatable, CustomStringConvertible {
    case truncated(at: Int)
    case malformed(String, at: Int)

    public var description: String {
        switch self {
        case .truncated(let offset): "input ends early (at byte \(offset))"
        case .malformed(let what, let offset): "\(what) (at byte \(offset))"
        }
    }
}
