import Foundation
import Crypto

extension SlotConflict {
    /// A short name for exactly these siblings: shown by `syncctl conflicts`
    /// and checked by `syncctl resolve`, so a resolution made from an old
    /// listing is refused instead of superseding versions nobody saw.
    public var token: String { Self.token(for: siblings) }

    /// Covers each sibling's dot and content (hlc, author, value, as encoded):
    /// content that changed under the same dot (a collision, replication-model
    /// §2.3) since the listing changes the token too.
    public static func token(for versions: [Version]) -> String {
        let entries = versions.map { version -> [UInt8] in
            Array("\(version.dot.replica.hex):\(version.dot.counter):".utf8) + SlotStateCodec.encodeContent(of: version)
        }.sorted { $0.lexicographicallyPrecedes($1) }
        var hasher = SHA256()
        for entry in entries {
            hasher.update(data: withUnsafeBytes(of: UInt32(entry.count).bigEndian) { Array($0) })
            hasher.update(data: entry)
        }
        return Hex.encode(hasher.finalize().prefix(5))
    }
}

extension Store {
    /// The conflict on one slot, or nil when it is not in conflict.
    public func conflict(at key: SlotKey) throws -> SlotConflict? {
        try conflicts(in: key.collection, record: key.record).first { $0.key == key }
    }
}
