/// Limits on what a peer's slot states may hold, checked before a batch
/// touches the store (replication-model §2.5, operations "Limits").
///
/// Pure: no I/O. A batch that breaks one is refused whole with the reason,
/// which the daemon logs and counts; nothing of it is stored. The defaults
/// are documented in `docs/operations.md`.
public struct ReceiveLimits: Sendable, Equatable {
    /// The largest counter the store can hold (SQLite INTEGER): 2^63 − 1.
    public static let maxCounter = UInt64(Int64.max)

    /// Bytes of one text value (also the limit on local writes).
    public var maxTextBytes = 1 << 20
    /// Bytes of one name in a slot key (collection, record id, field, member).
    public var maxKeyPartBytes = 1_024
    /// Bytes of one author name.
    public var maxAuthorBytes = 1_024
    /// Versions in one received slot state (concurrent writers of one slot).
    public var maxVersionsPerSlot = 256
    /// Replicas in one received slot state's context.
    public var maxContextEntries = 4_096
    /// Bytes of one slot's encoded state after merging: what any replica
    /// must be able to send in one frame (`max_frame_bytes` may not be set
    /// below twice this plus 1 MiB).
    public var maxSlotBytes = 4 << 20

    public init() {}
}

/// Why a received batch was refused.
public struct BatchRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    public let slot: SlotKey
    public let reason: String

    public var description: String { "\(slot.description.prefix(200)): \(reason)" }
}

public enum ReceivedStateCheck {
    /// The first limit `changes` break, or nil when every state may be merged.
    public static func refusal(for changes: [SlotChange], limits: ReceiveLimits = ReceiveLimits()) -> BatchRefusal? {
        for change in changes {
            if let reason = refusal(for: change, limits: limits) { return BatchRefusal(slot: change.key, reason: reason) }
        }
        return nil
    }

    static func refusal(for change: SlotChange, limits: ReceiveLimits) -> String? {
        let key = change.key
        if let reason = keyPartRefusal("collection", key.collection, limits) ?? keyPartRefusal("record id", key.record, limits)
            ?? keyPartRefusal("field", key.field, limits) ?? keyPartRefusal("member", key.element, limits) { return reason }
        let state = change.state
        if state.context.entries.count > limits.maxContextEntries {
            return "context of \(state.context.entries.count) replicas (limit \(limits.maxContextEntries))"
        }
        if state.versions.count > limits.maxVersionsPerSlot {
            return "\(state.versions.count) concurrent versions (limit \(limits.maxVersionsPerSlot))"
        }
        for entry in state.context.entries where entry.counter > ReceiveLimits.maxCounter {
            return "counter \(entry.counter) of replica \(entry.replica.short) is above 2^63-1, the largest the store holds"
        }
        for version in state.versions {
            if version.author.utf8.count > limits.maxAuthorBytes {
                return "author of \(version.author.utf8.count) bytes (limit \(limits.maxAuthorBytes))"
            }
            if case .text(let text) = version.value, text.utf8.count > limits.maxTextBytes {
                return "text value of \(text.utf8.count) bytes (limit \(limits.maxTextBytes))"
            }
            if case .text(let text) = version.value, UTF8Identity.containsNUL(text) { return "text value contains a NUL byte" }
            if UTF8Identity.containsNUL(version.author) { return "author contains a NUL byte" }
        }
        return nil
    }

    static func keyPartRefusal(_ name: String, _ part: String, _ limits: ReceiveLimits) -> String? {
        if part.utf8.count > limits.maxKeyPartBytes { return "\(name) of \(part.utf8.count) bytes (limit \(limits.maxKeyPartBytes))" }
        // SQLite's C text API ends a string at NUL: such a key would be read
        // back as another slot.
        if UTF8Identity.containsNUL(part) { return "\(name) contains a NUL byte" }
        return nil
    }

    /// Why a merged state may not be stored: each received state was within
    /// the limits, but together they are not. Checked before storing, so no
    /// replica ever holds a state that another would refuse to receive.
    public static func refusal(forMerged state: SlotState, encodedBytes: Int, key: SlotKey, limits: ReceiveLimits) -> BatchRefusal? {
        if state.versions.count > limits.maxVersionsPerSlot {
            return BatchRefusal(slot: key, reason: "merged, \(state.versions.count) concurrent versions (limit \(limits.maxVersionsPerSlot))")
        }
        if state.context.entries.count > limits.maxContextEntries {
            return BatchRefusal(slot: key, reason: "merged, a context of \(state.context.entries.count) replicas (limit \(limits.maxContextEntries))")
        }
        if encodedBytes > limits.maxSlotBytes {
            return BatchRefusal(slot: key, reason: "merged, \(encodedBytes) bytes (limit \(limits.maxSlotBytes))")
        }
        return nil
    }

    /// The highest counter that `changes` carry for `replica`, in contexts
    /// (which cover every version): above our own counter, it proves that
    /// someone else issued dots under our replica id (replication-model §3.3).
    public static func highestCounter(of replica: ReplicaID, in changes: [SlotChange]) -> UInt64 {
        var highest: UInt64 = 0
        for change in changes { highest = max(highest, change.state.context[replica]) }
        return highest
    }
}
