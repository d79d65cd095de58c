/// The versions one transaction added to one record's history, packed into
/// one `sync_history` row: history is read a record at a time, so one row
/// per record per transaction keeps writes cheap.
///
/// Each entry carries the seq its version was applied at; the row's `seq`
/// column, set by the writer, is the highest seq its record took in the
/// transaction that wrote the row, never below any entry's (a version whose
/// history was deferred, format 5, is written later than it was applied),
/// so a reader walking rows newest first may stop at the first row below
/// the seqs it wants (rows of builds before format 5 aside:
/// `ChangeFilter.stragglerRows`).
///
/// Layout: repeated `field, element, seq (varint), replica (16), counter
/// (varint), hlc (fixed64), author, value` until the end of the blob.
struct HistoryEntries {
    var writer = BinaryWriter(capacity: 256)

    mutating func append(field: String, element: String, versions: [Version], seq: Int64) {
        for version in versions {
            writer.writeString(field)
            writer.writeString(element)
            writer.writeVarint(UInt64(seq))
            writer.writeReplica(version.dot.replica)
            writer.writeVarint(version.dot.counter)
            writer.writeFixed64(version.hlc.raw)
            writer.writeString(version.author)
            SlotStateCodec.encode(version.value, into: &writer)
        }
    }

    struct Entry {
        let field: String
        let element: String
        let seq: UInt64
        let version: Version
    }

    static func decode(_ bytes: [UInt8]) throws(BinaryDecodingError) -> [Entry] {
        var reader = BinaryReader(bytes)
        var entries: [Entry] = []
        while !reader.isAtEnd {
            let field = try reader.readString()
            let element = try reader.readString()
            let seq = try reader.readVarint()
            let replica = try reader.readReplica()
            let counter = try reader.readVarint()
            let hlc = HLC(raw: try reader.readFixed64())
            let author = try reader.readString()
            let value = try SlotStateCodec.decodeValue(from: &reader)
            entries.append(Entry(field: field, element: element, seq: seq,
                                 version: Version(dot: Dot(replica: replica, counter: counter), hlc: hlc, author: author, value: value)))
        }
        return entries
    }
}
