import SyncCore

/// The checks at the end of a run (docs/architecture.md, "Simulation").
extension World {
    func finish() {
        result.checked = Simulation.invariants
        guard convergedAt != nil else {
            let digests = replicas.map { replica in (try? replica.store?.digest().hex.prefix(12)).flatMap { $0 }.map(String.init) ?? "down" }
            violation("no convergence within \(options.healLimitMillis) ms of the heal: digests \(digests.joined(separator: " "))")
            return
        }
        if lateChanges > 0 { violation("\(lateChanges) slot(s) still sent after convergence (echo traffic)") }
        guard let reference = replicas.first?.store else { return }
        // No lost write: present with its dot, or covered by the context.
        do {
            for (dot, keys) in oracle.written {
                for key in keys {
                    let state = try reference.slotState(key)
                    if state.versions.contains(where: { $0.dot == dot }) { continue }
                    if state.context.covers(dot) { continue }
                    violation("write \(dot) to \(key) is lost: neither present nor superseded")
                }
            }
            // Readers show exactly the conflicts the states hold, on every replica.
            for replica in replicas {
                guard let store = replica.store else { continue }
                var expected: [SlotKey] = []
                try store.forEachSlot { key, state in
                    if key.element.isEmpty, SlotReader.scalar(state).isConflicted { expected.append(key) }
                }
                let shown = try store.conflicts().map(\.key)
                let sortKey: (SlotKey) -> [UInt8] = { Array("\($0.collection)/\($0.record)/\($0.field)".utf8) }
                if expected.map(sortKey).sorted(by: { $0.lexicographicallyPrecedes($1) }) != shown.map(sortKey).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                    violation("\(replica.name) shows conflicts \(shown) but its states hold \(expected)")
                }
            }
        } catch {
            violation("final checks failed to read: \(error)")
        }
    }
}
