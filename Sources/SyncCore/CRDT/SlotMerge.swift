/// The slot merge of replication-model §2, as pure functions of values.
///
/// `merge` is commutative, associative and idempotent; a local write supersedes
/// exactly the versions its writer could see. No I/O and no clock reads here.
public enum SlotMerge {
    /// Merges two states of the same slot.
    ///
    /// A version survives if the other side still holds it or has never seen its dot.
    public static func merge(_ a: SlotState, _ b: SlotState) -> SlotState {
        if a == b { return a }
        var kept: [Version] = []
        kept.reserveCapacity(a.versions.count + b.versions.count)
        var i = 0
        var j = 0
        // Both version lists are sorted by dot: walk them together.
        while i < a.versions.count || j < b.versions.count {
            if j == b.versions.count || (i < a.versions.count && a.versions[i].dot < b.versions[j].dot) {
                let version = a.versions[i]
                if !b.context.covers(version.dot) { kept.append(version) }
                i += 1
            } else if i == a.versions.count || b.versions[j].dot < a.versions[i].dot {
                let version = b.versions[j]
                if !a.context.covers(version.dot) { kept.append(version) }
                j += 1
            } else {
                // In both: kept. Two contents under one dot (a reused replica
                // id) keep the greater canonical encoding, whichever side it
                // is on, so the merge stays a join (replication-model §2.3).
                let left = a.versions[i]
                let right = b.versions[j]
                #if SYNCD_REINTRODUCE_SAME_DOT_BUG
                // The bug before issue 19, put back for the simulation's
                // demonstration only: whichever side is `a` wins.
                kept.append(left)
                #else
                kept.append(left == right || !contentPrecedes(left, right) ? left : right)
                #endif
                i += 1
                j += 1
            }
        }
        return SlotState(uncheckedVersions: kept, context: a.context.joined(with: b.context))
    }

    /// The dots that `a` and `b` both hold with different content: evidence
    /// of a reused replica id, which the store records (replication-model §2.3).
    public static func collidingDots(_ a: SlotState, _ b: SlotState) -> [Dot] {
        var found: [Dot] = []
        var i = 0
        var j = 0
        while i < a.versions.count && j < b.versions.count {
            let left = a.versions[i]
            let right = b.versions[j]
            if left.dot < right.dot {
                i += 1
            } else if right.dot < left.dot {
                j += 1
            } else {
                if left != right { found.append(left.dot) }
                i += 1
                j += 1
            }
        }
        return found
    }

    /// Whether `lhs`'s canonical encoding (hlc, author, value; the dot is
    /// shared) sorts before `rhs`'s, byte by byte.
    static func contentPrecedes(_ lhs: Version, _ rhs: Version) -> Bool {
        SlotStateCodec.encodeContent(of: lhs).lexicographicallyPrecedes(SlotStateCodec.encodeContent(of: rhs))
    }

    /// The state after a local write of `version`: it replaces every version the
    /// writer holds, and its dot joins the context.
    public static func write(_ version: Version, over state: SlotState) -> SlotState {
        var context = state.context
        context.include(version.dot)
        return SlotState(uncheckedVersions: [version], context: context)
    }

    /// The versions of `incoming` that `local` has never seen: what a merge adds to history.
    public static func unseenVersions(in incoming: SlotState, by local: SlotState) -> [Version] {
        incoming.versions.filter { !local.context.covers($0.dot) }
    }
}
