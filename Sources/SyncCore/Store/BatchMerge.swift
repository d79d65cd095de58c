import Dispatch
import Foundation

/// The pure part of merging a batch of remote states (no I/O): for each slot,
/// given the state this replica holds, the merged state, the versions new
/// here, the schema's objection if any, and the merged state encoded and
/// hashed for storage.
///
/// Slots are independent of one another, so a large batch is split over the
/// machine's cores; the outcome is the same as merging the slots one by one
/// on one thread (`BatchMergeTests`). What needs the database (reading the
/// local states, storing, the clock) stays with the caller, on one thread.
enum BatchMerge {
    struct Outcome: Sendable, Equatable {
        let merged: SlotState
        /// Versions of the remote state this replica had not seen.
        let unseen: [Version]
        /// Why the merged state fails the local schema (it is stored all the same).
        let problem: String?
        let encoded: EncodedSlot
        /// The merged state is exactly the remote one, so the sender need not get it back.
        let equalsRemote: Bool
    }

    /// A batch smaller than this is merged on the calling thread: handing
    /// work to another thread costs more than it saves.
    static let parallelThreshold = 256

    /// One outcome per change, nil where the local state already holds
    /// everything the remote one says.
    ///
    /// - Parameter locals: this replica's state of each change's slot, in order.
    static func merge(_ changes: [SlotChange], locals: [SlotState], schema: Schema,
                      threads: Int = ProcessInfo.processInfo.activeProcessorCount) -> [Outcome?] {
        precondition(changes.count == locals.count, "one local state per change")
        let chunks = max(1, min(threads, changes.count / parallelThreshold))
        var outcomes = [Outcome?](repeating: nil, count: changes.count)
        outcomes.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            let chunkSize = (changes.count + chunks - 1) / chunks
            let work = { @Sendable (chunk: Int) in
                var scratch = BinaryWriter(capacity: 512)
                for index in chunk * chunkSize..<min(changes.count, (chunk + 1) * chunkSize) {
                    out[index] = merge(changes[index], local: locals[index], schema: schema, scratch: &scratch)
                }
            }
            if chunks == 1 {
                work(0)
            } else {
                DispatchQueue.concurrentPerform(iterations: chunks, execute: work)
            }
        }
        return outcomes
    }

    /// The outcome for one slot; nil when merging changes nothing here.
    static func merge(_ change: SlotChange, local: SlotState, schema: Schema, scratch: inout BinaryWriter) -> Outcome? {
        let merged = SlotMerge.merge(local, change.state)
        if merged == local { return nil }
        return Outcome(merged: merged,
                       unseen: SlotMerge.unseenVersions(in: change.state, by: local),
                       problem: schema.problem(for: change.key, state: merged),
                       encoded: EncodedSlot(change.key, merged, scratch: &scratch),
                       equalsRemote: merged == change.state)
    }
}
