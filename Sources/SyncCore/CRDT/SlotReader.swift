/// What a reader sees in a slot (replication-model §2, "What a reader sees").
public enum SlotReader {
    /// The reading of a scalar slot (a field or `_exists`).
    public struct Scalar: Hashable, Sendable {
        /// The winning version: highest `(hlc, replica)`; nil if never written.
        public let winner: Version?
        /// Every live version, winner first, when they hold ≥ 2 distinct values.
        public let siblings: [Version]

        public var value: Value { winner?.value ?? .null }
        public var isConflicted: Bool { !siblings.isEmpty }
    }

    /// Reads a scalar slot: the shared value, or the deterministic winner and
    /// the siblings when versions disagree. Equal values are no conflict.
    public static func scalar(_ state: SlotState) -> Scalar {
        guard var winner = state.versions.first else { return Scalar(winner: nil, siblings: []) }
        var distinct = false
        for version in state.versions.dropFirst() {
            if version.value != winner.value { distinct = true }
            if Version.winsOver(version, winner) { winner = version }
        }
        guard distinct else { return Scalar(winner: winner, siblings: []) }
        let siblings = state.versions.sorted { Version.winsOver($0, $1) }
        return Scalar(winner: winner, siblings: siblings)
    }

    /// Reads a set member: present iff any live version says present (add wins).
    public static func memberPresent(_ state: SlotState) -> Bool {
        state.versions.contains { $0.value == .bool(true) }
    }

    /// Reads `_exists`: the scalar reading as a boolean (null or never written is false).
    public static func exists(_ state: SlotState) -> Scalar { scalar(state) }
}
