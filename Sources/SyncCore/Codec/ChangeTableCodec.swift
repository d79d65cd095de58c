/// The compact layout of a list of slot changes (protocol 1.1 batches):
/// strings (collection, record, field, element, author) and replica ids are
/// written once per list in two tables and referenced by index, so a batch no
/// longer repeats a record's name for each of its slots or a replica's 16
/// bytes for each version. Layout in `docs/protocol.md`.
///
/// Decoding checks what `SlotStateCodec` checks (order, coverage, UTF-8) plus
/// every index against its table: hostile input fails with an error.
enum ChangeTableCodec {
    /// - Parameter knowledge: protocol 1.6 (replication-model §4.7): when
    ///   any change has an origin or `knowledge` is not empty, a trailing
    ///   section follows the changes: the count of origins (0 or one per
    ///   change), each a replica index and a seq; the knowledge words
    ///   entries, each a replica index and a seq. An older reader ignores it.
    static func encode(_ changes: [SlotChange], knowledge: [KnowledgeWord] = [], into writer: inout BinaryWriter) {
        var strings: [UTF8Key: Int] = [:]  // by bytes: NFC and NFD spellings stay two entries
        var stringList: [String] = []
        var replicas: [ReplicaID: Int] = [:]
        var replicaList: [ReplicaID] = []
        var body = BinaryWriter(capacity: 64 * changes.count)

        func string(_ text: String, _ writer: inout BinaryWriter) {
            if let index = strings[UTF8Key(text)] { return writer.writeVarint(UInt64(index)) }
            strings[UTF8Key(text)] = stringList.count
            writer.writeVarint(UInt64(stringList.count))
            stringList.append(text)
        }
        func replica(_ id: ReplicaID, _ writer: inout BinaryWriter) {
            if let index = replicas[id] { return writer.writeVarint(UInt64(index)) }
            replicas[id] = replicaList.count
            writer.writeVarint(UInt64(replicaList.count))
            replicaList.append(id)
        }

        body.writeVarint(UInt64(changes.count))
        for change in changes {
            string(change.key.collection, &body)
            string(change.key.record, &body)
            string(change.key.field, &body)
            string(change.key.element, &body)
            SlotStateCodec.encode(change.state, into: &body, replica: replica, author: string)
        }
        if !knowledge.isEmpty || changes.contains(where: { $0.origin != nil }) {
            if changes.allSatisfy({ $0.origin != nil }) {
                body.writeVarint(UInt64(changes.count))
                for change in changes {
                    replica(change.origin!.replica, &body)
                    body.writeVarint(change.origin!.seq)
                }
            } else {
                body.writeVarint(0)
            }
            body.writeKnowledgeWords(knowledge)
        }
        writer.writeVarint(UInt64(replicaList.count))
        for id in replicaList { writer.writeReplica(id) }
        writer.writeVarint(UInt64(stringList.count))
        for text in stringList { writer.writeString(text) }
        writer.writeRaw(body.bytes)
    }

    static func decode(from reader: inout BinaryReader) throws(BinaryDecodingError) -> [SlotChange] {
        try decodeWithKnowledge(from: &reader).changes
    }

    /// The changes, with their origins and the knowledge when the 1.6
    /// section follows them (else none).
    static func decodeWithKnowledge(from reader: inout BinaryReader) throws(BinaryDecodingError) -> (changes: [SlotChange], knowledge: [KnowledgeWord]) {
        let replicaCount = try reader.readVarint()
        guard replicaCount <= UInt64(reader.remaining / 16) else { throw .truncated(at: reader.offset) }
        var replicas: [ReplicaID] = []
        replicas.reserveCapacity(Int(replicaCount))
        for _ in 0..<replicaCount { replicas.append(try reader.readReplica()) }
        let stringCount = try reader.readVarint()
        guard stringCount <= UInt64(reader.remaining) else { throw .truncated(at: reader.offset) }
        var strings: [String] = []
        strings.reserveCapacity(Int(stringCount))
        for _ in 0..<stringCount { strings.append(try reader.readString()) }

        func string(_ reader: inout BinaryReader) throws(BinaryDecodingError) -> String {
            let index = try reader.readVarint()
            guard index < UInt64(strings.count) else { throw .malformed("string #\(index) outside the batch's table of \(strings.count)", at: reader.offset) }
            return strings[Int(index)]
        }
        func replica(_ reader: inout BinaryReader) throws(BinaryDecodingError) -> ReplicaID {
            let index = try reader.readVarint()
            guard index < UInt64(replicas.count) else { throw .malformed("replica #\(index) outside the batch's table of \(replicas.count)", at: reader.offset) }
            return replicas[Int(index)]
        }

        let count = try reader.readVarint()
        guard count <= UInt64(SyncMessageCodec.maxSlotsPerMessage) else {
            throw .malformed("\(count) slots in one message (limit \(SyncMessageCodec.maxSlotsPerMessage))", at: reader.offset)
        }
        guard count <= UInt64(reader.remaining / 6) else { throw .truncated(at: reader.offset) }
        var changes: [SlotChange] = []
        changes.reserveCapacity(Int(count))
        for _ in 0..<count {
            let key = SlotKey(collection: try string(&reader), record: try string(&reader), field: try string(&reader), element: try string(&reader))
            changes.append(SlotChange(key: key, state: try SlotStateCodec.decodeState(from: &reader, entryBytes: 2, replica: replica, author: string)))
        }
        guard !reader.isAtEnd else { return (changes, []) }
        func seq(_ reader: inout BinaryReader) throws(BinaryDecodingError) -> UInt64 {
            let seq = try reader.readVarint()
            guard seq > 0, seq <= ReceiveLimits.maxCounter else { throw .malformed("seq \(seq) outside 1...2^63-1", at: reader.offset) }
            return seq
        }
        let origins = try reader.readVarint()
        guard origins == 0 || origins == UInt64(changes.count) else {
            throw .malformed("\(origins) origins for \(changes.count) slots", at: reader.offset)
        }
        if origins > 0 {
            for index in changes.indices { changes[index].origin = FeedOrigin(replica: try replica(&reader), seq: try seq(&reader)) }
        }
        return (changes, try reader.readKnowledgeWords())
    }
}
