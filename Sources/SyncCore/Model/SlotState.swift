/// A slot's replicated state `S = (V, C)`: its live versions and its context.
///
/// Invariant: every version's dot is covered by the context. Versions are kept
/// sorted by dot so that equal states compare and encode identically.
public struct SlotState: Hashable, Sendable {
    public private(set) var versions: [Version]
    public private(set) var context: VersionContext

    /// The state of a slot never written anywhere.
    public static let empty = SlotState(uncheckedVersions: [], context: VersionContext())

    /// Builds a state, sorting versions and raising the context to cover them.
    public init(versions: [Version], context: VersionContext) {
        var context = context
        for version in versions { context.include(version.dot) }
        self.versions = versions.sorted { $0.dot < $1.dot }
        self.context = context
    }

    /// Trusts the caller that versions are sorted by dot and covered (merge and decoder).
    init(uncheckedVersions: [Version], context: VersionContext) {
        self.versions = uncheckedVersions
        self.context = context
    }

    public var isEmpty: Bool { versions.isEmpty && context.entries.isEmpty }

    /// True when the replication-model §2 invariant holds: sorted, unique dots, all covered.
    public var satisfiesInvariant: Bool {
        for (index, version) in versions.enumerated() {
            if !context.covers(version.dot) { return false }
            if index > 0, !(versions[index - 1].dot < version.dot) { return false }
        }
        return true
    }
}
