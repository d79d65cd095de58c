/// The canonical binary encoding of values, slot keys and slot states.
///
/// Canonical: equal states encode to equal bytes (versions sorted by dot,
/// context sorted by replica), which the digest depends on. A version names
/// its replica by index into the context, which always covers it.
public enum SlotStateCodec {
    public static func encode(_ value: Value, into writer: inout BinaryWriter) {
        switch value {
        case .null: writer.writeByte(0)
        case .bool(let flag): writer.writeByte(flag ? 2 : 1)
        case .int(let number): writer.writeByte(3); writer.writeSignedVarint(number)
        case .text(let text): writer.writeByte(4); writer.writeString(text)
        }
    }

    public static func decodeValue(from reader: inout BinaryReader) throws(BinaryDecodingError) -> Value {
        let tag = try reader.readByte()
        switch tag {
        case 0: return .null
        case 1: return .bool(false)
        case 2: return .bool(true)
        case 3: return .int(try reader.readSignedVarint())
        case 4: return .text(try reader.readString())
        default: throw .malformed("unknown value tag \(tag)", at: reader.offset - 1)
        }
    }

    public static func encode(_ value: Value) -> [UInt8] {
        var writer = BinaryWriter(capacity: 16)
        encode(value, into: &writer)
        return writer.bytes
    }

    public static func decodeValue(_ bytes: [UInt8]) throws(BinaryDecodingError) -> Value {
        var reader = BinaryReader(bytes)
        let value = try decodeValue(from: &reader)
        guard reader.isAtEnd else { throw .malformed("trailing bytes after value", at: reader.offset) }
        return value
    }

    public static func encode(_ key: SlotKey, into writer: inout BinaryWriter) {
        writer.writeString(key.collection)
        writer.writeString(key.record)
        writer.writeString(key.field)
        writer.writeString(key.element)
    }

    public static func decodeKey(from reader: inout BinaryReader) throws(BinaryDecodingError) -> SlotKey {
        SlotKey(collection: try reader.readString(), record: try reader.readString(),
                field: try reader.readString(), element: try reader.readString())
    }

    public static func encode(_ state: SlotState, into writer: inout BinaryWriter) {
        encode(state, into: &writer, replica: { $1.writeReplica($0) }, author: { $1.writeString($0) })
    }

    /// The state layout with the replica ids and authors written by the caller
    /// (inline here, as indexes into per-batch tables in `ChangeTableCodec`).
    @inline(__always)
    static func encode(_ state: SlotState, into writer: inout BinaryWriter,
                       replica: (ReplicaID, inout BinaryWriter) -> Void, author: (String, inout BinaryWriter) -> Void) {
        let entries = state.context.entries
        writer.writeVarint(UInt64(entries.count))
        for entry in entries {
            replica(entry.replica, &writer)
            writer.writeVarint(entry.counter)
        }
        writer.writeVarint(UInt64(state.versions.count))
        for version in state.versions {
            let index = entries.firstIndex { $0.replica == version.dot.replica } ?? 0
            writer.writeVarint(UInt64(index))
            writer.writeVarint(version.dot.counter)
            writer.writeFixed64(version.hlc.raw)
            author(version.author, &writer)
            encode(version.value, into: &writer)
        }
    }

    /// A version's content as the state layout writes it (hlc, author,
    /// value): what two versions of one dot are told apart and ordered by.
    static func encodeContent(of version: Version) -> [UInt8] {
        var writer = BinaryWriter(capacity: 24 + version.author.utf8.count)
        writer.writeFixed64(version.hlc.raw)
        writer.writeString(version.author)
        encode(version.value, into: &writer)
        return writer.bytes
    }

    public static func encode(_ state: SlotState) -> [UInt8] {
        var writer = BinaryWriter(capacity: 48 + 40 * state.versions.count)
        encode(state, into: &writer)
        return writer.bytes
    }

    /// Decodes a state and checks the replication-model §2 invariant, so a hostile peer
    /// cannot plant a version its context does not cover.
    public static func decodeState(from reader: inout BinaryReader) throws(BinaryDecodingError) -> SlotState {
        try decodeState(from: &reader, entryBytes: 17, replica: { (reader: inout BinaryReader) throws(BinaryDecodingError) in try reader.readReplica() },
                        author: { (reader: inout BinaryReader) throws(BinaryDecodingError) in try reader.readString() })
    }

    /// The state layout with replica ids and authors read by the caller;
    /// `entryBytes` is the least a context entry can take (for the length check).
    @inline(__always)
    static func decodeState(from reader: inout BinaryReader, entryBytes: Int,
                            replica: (inout BinaryReader) throws(BinaryDecodingError) -> ReplicaID,
                            author: (inout BinaryReader) throws(BinaryDecodingError) -> String) throws(BinaryDecodingError) -> SlotState {
        let entryCount = try reader.readVarint()
        guard entryCount <= UInt64(reader.remaining / entryBytes) else { throw .truncated(at: reader.offset) }
        var entries: [VersionContext.Entry] = []
        entries.reserveCapacity(Int(entryCount))
        for _ in 0..<entryCount {
            let replica = try replica(&reader)
            let counter = try reader.readVarint()
            guard counter > 0 else { throw .malformed("context entry with counter 0", at: reader.offset) }
            if let previous = entries.last, !(previous.replica < replica) {
                throw .malformed("context replicas not in strictly increasing order", at: reader.offset)
            }
            entries.append(VersionContext.Entry(replica: replica, counter: counter))
        }
        let versionCount = try reader.readVarint()
        guard versionCount <= UInt64(reader.remaining / 12) else { throw .truncated(at: reader.offset) }
        var versions: [Version] = []
        versions.reserveCapacity(Int(versionCount))
        for _ in 0..<versionCount {
            let index = try reader.readVarint()
            guard index < UInt64(entries.count) else { throw .malformed("version names replica #\(index) outside its context", at: reader.offset) }
            let entry = entries[Int(index)]
            let counter = try reader.readVarint()
            guard counter >= 1, counter <= entry.counter else {
                throw .malformed("version dot \(entry.replica.short):\(counter) not covered by its context", at: reader.offset)
            }
            let hlc = HLC(raw: try reader.readFixed64())
            let author = try author(&reader)
            let value = try decodeValue(from: &reader)
            let version = Version(dot: Dot(replica: entry.replica, counter: counter), hlc: hlc, author: author, value: value)
            if let previous = versions.last, !(previous.dot < version.dot) {
                throw .malformed("versions not in strictly increasing dot order", at: reader.offset)
            }
            versions.append(version)
        }
        return SlotState(uncheckedVersions: versions, context: VersionContext(sortedEntries: entries))
    }

    public static func decodeState(_ bytes: [UInt8]) throws(BinaryDecodingError) -> SlotState {
        var reader = BinaryReader(bytes)
        let state = try decodeState(from: &reader)
        guard reader.isAtEnd else { throw .malformed("trailing bytes after slot state", at: reader.offset) }
        return state
    }
}
