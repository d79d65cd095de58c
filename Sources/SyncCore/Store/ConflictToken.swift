import Foundation
import Crypto

extension SlotConflict {
    /// A short name for exactly these siblings: shown by `syncctl conflicts`
    /// and checked by `syncctl resolve`, so a resolution made from an old
    /// listing is refused instead of superseding versions nobody saw.
    public var token: String { Self.token(for: siblings) }

    public static func token(for versions: [Version]) -> String {
        let text = versions.map { "\($0.dot.replica.hex):\($0.dot.counter)" }.sorted().joined(separator: ",")
        return SHA256.hash(data: Array(text.utf8)).prefix(5).map { String(format: "%02x", $0) }.joined()
    }
}

extension Store {
    /// The conflict on one slot, or nil when it is not in conflict.
    public func conflict(at key: SlotKey) throws -> SlotConflict? {
        try conflicts(in: key.collection, record: key.record).first { $0.key == key }
    }
}
