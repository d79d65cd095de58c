/// Appends the primitives of the project's binary formats to a byte buffer.
///
/// Integers are LEB128 varints (zig-zag for signed), strings and blobs are
/// length-prefixed. The formats are written down in `docs/protocol.md`.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the buffer and keeps its capacity, to reuse it for the next value.
    public mutating func removeAll() { bytes.removeAll(keepingCapacity: true) }

    public mutating func writeByte(_ byte: UInt8) { bytes.append(byte) }

    public mutating func writeVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    public mutating func writeSignedVarint(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Eight bytes, big-endian.
    public mutating func writeFixed64(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeString(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            writeVarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func writeBlob(_ blob: some Collection<UInt8>) {
        writeVarint(UInt64(blob.count))
        bytes.append(contentsOf: blob)
    }

    public mutating func writeRaw(_ raw: some Sequence<UInt8>) { bytes.append(contentsOf: raw) }

    public mutating func writeReplica(_ replica: ReplicaID) {
        writeFixed64(replica.high)
        writeFixed64(replica.low)
    }
}
