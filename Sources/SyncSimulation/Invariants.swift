import Foundation
import SyncCore

/// The checks at the end of a run (docs/architecture.md, "Simulation").
extension World {
    func finish() {
        result.checked = Simulation.invariants
        guard convergedAt != nil else {
            let digests = replicas.map { replica in (try? replica.store?.digest().hex.prefix(12)).flatMap { $0 }.map(String.init) ?? "down" }
            let aside = replicas.filter { !keptAside($0).isEmpty }.map(\.name)
            violation("no convergence within \(options.healLimitMillis) ms of the heal: digests \(digests.joined(separator: " "))"
                      + (aside.isEmpty ? "" : "; still keeping a database aside: \(aside.joined(separator: ", "))"))
            return
        }
        guard quietBaseline != nil else {
            let behind = links.filter { !drained($0) }.map { "\($0.index)\($0.isUp ? "" : " (down)")" }
            violation("converged, but links \(behind.joined(separator: ", ")) never all caught up by the end")
            return
        }
        if lateChanges > 0 { violation("\(lateChanges) slot(s) sent after every link had caught up on converged replicas (echo traffic)") }
        if let quiet = quietBaseline {
            let seqs = replicas.map { (try? $0.store?.highestSeq()) ?? nil }
            for (replica, (then, now)) in zip(replicas, zip(quiet.seqs, seqs)) where then != now {
                violation("\(replica.name) committed after the network went quiet: seq \(then.map(String.init) ?? "-") → \(now.map(String.init) ?? "-")")
            }
        }
        let schemas = replicas.compactMap { $0.store.map { String($0.schema.hash.prefix(12)) } }
        if Set(schemas).count > 1 { violation("converged replicas validate against different schemas: \(schemas.joined(separator: " "))") }
        do {
            try checkEqualStates()
            try checkExpectedVersions()
            try checkConflictsShown()
        } catch {
            violation("final checks failed to read: \(error)")
        }
        for replica in replicas {
            let left = keptAside(replica)
            if !left.isEmpty { violation("\(replica.name) still keeps a database aside after syncing: \(left)") }
            checkTablesAgree(replica)
            checkHistoryShown(replica)
        }
        // Last, as it would write if it failed: every other check has read the converged state.
        if let replica = replicas.first(where: { $0.store != nil }) { checkInterchangeRoundTrip(replica) }
    }

    /// History shows each live version of every slot of the records the run
    /// writes, as current, exactly once; no version twice; and recent
    /// changes no version twice (storage format 5 keeps a slot's first state
    /// out of history until it changes: docs/architecture.md "History").
    func checkHistoryShown(_ replica: SimReplica) {
        guard let store = replica.store else { return }
        do {
            for name in ["countries", "minerals"] {
                for listed in try store.list(name) {
                    guard let view = try store.record(listed.ref) else { continue }
                    let history = try store.history(listed.ref)
                    var seen = Set<String>()
                    for entry in history where !seen.insert("\(entry.key) \(entry.version.dot)").inserted {
                        violation("\(replica.name): history shows \(entry.key) \(entry.version.dot) twice")
                    }
                    var keys = [SlotKey(collection: name, record: listed.ref.id, field: SlotKey.existsField)]
                    keys += view.scalars.keys.map { SlotKey(collection: name, record: listed.ref.id, field: $0.string) }
                    for (field, members) in view.members {
                        keys += members.keys.map { SlotKey(collection: name, record: listed.ref.id, field: field.string, element: $0.string) }
                    }
                    for key in keys {
                        let live = Set(try store.slotState(key).versions.map(\.dot))
                        let current = Set(history.filter { $0.isCurrent && $0.key == key }.map(\.version.dot))
                        if live != current { violation("\(replica.name): history shows \(current.count) current version(s) of \(key), it holds \(live.count)") }
                    }
                }
            }
            let recent = try store.recentChanges(ChangeFilter(limit: ChangeFilter.maxLimit)).changes
            let distinct = Set(recent.map { "\($0.ref) \($0.field) \(Array($0.element.utf8)) \($0.version.dot)" })
            if distinct.count != recent.count { violation("\(replica.name): recent changes show \(recent.count - distinct.count) version(s) twice") }
        } catch {
            violation("\(replica.name): cannot read its history: \(error)")
        }
    }

    /// Importing an export changes nothing (docs/interchange.md), whatever
    /// the text holds: look-alike spellings, marks after CSV and set-cell
    /// syntax, edge blanks. Checked for CSV and JSONL on every collection
    /// the run writes.
    func checkInterchangeRoundTrip(_ replica: SimReplica) {
        guard let store = replica.store else { return }
        for name in ["countries", "minerals"] {
            do {
                guard let collection = store.schema.collection(name) else { continue }
                let records = try store.list(name)
                let csv = RecordExport.csvLines(records, collection: collection).map { $0 + "\n" }.joined()
                let jsonl = try records.map {
                    String(decoding: try RecordExport.jsonData(RecordExport.jsonObject($0, collection: collection), pretty: false), as: UTF8.self) + "\n"
                }.joined()
                for (format, text) in [(RecordFileFormat.csv, csv), (.jsonl, jsonl)] {
                    let rows = try RecordFile.parse(text, format: format, collection: name, schema: store.schema)
                    let report = try store.importRows(rows, author: replica.name)
                    if report.changed > 0 || report.created > 0 {
                        violation("\(replica.name): importing its own \(format.rawValue) export of \(name) changed \(report.changed) and created \(report.created) record(s)")
                    }
                }
            } catch let error as RecordFileErrors {
                // A record whose existence is in conflict is refused, as for an analyst.
                note("\(replica.name) round trip of \(name) refused: \(error)")
            } catch {
                violation("\(replica.name): exporting and importing \(name) failed: \(error)")
            }
        }
    }

    /// SQL writes all taken up (written or kept with a reason), and every
    /// collection table equal to the replicated state, byte for byte.
    func checkTablesAgree(_ replica: SimReplica) {
        guard let store = replica.store else { return }
        dropAnalystIndex(replica)
        do {
            if try store.hasPendingSQLEdits() { violation("\(replica.name) still has SQL edits waiting after the heal") }
            let drift = try store.viewDrift()
            if drift.count > 0 { violation("\(replica.name)'s tables disagree with its replicated state: \(drift.drift.prefix(3))") }
            // A reader and the table flag the same records as in conflict
            // (fields no schema knows, with look-alike names, included).
            for collection in store.schema.tableCollections {
                for listed in try store.list(collection.name) {
                    guard let view = try store.record(listed.ref) else { continue }
                    if view.isConflicted != listed.isConflicted {
                        violation("\(replica.name): \(listed.ref) reads \(view.isConflicted ? "" : "not ")in conflict, its table row says \(listed.isConflicted)")
                    }
                }
            }
            if try store.sqlEdits(refusedOnly: true).contains(where: { ($0.reason ?? "").isEmpty }) {
                violation("\(replica.name) holds a refused SQL edit without a reason")
            }
        } catch {
            violation("\(replica.name): cannot compare its tables: \(error)")
        }
    }

    /// Every replica holds the same slot states, byte for byte: read from the
    /// states themselves, not from the digest (which is kept incrementally).
    func checkEqualStates() throws {
        var reference: (name: String, rows: [[UInt8]])?
        for replica in replicas {
            guard let store = replica.store else { violation("\(replica.name) is down at the end"); continue }
            var rows: [[UInt8]] = []
            try store.forEachSlot { key, state in
                var writer = BinaryWriter()
                SlotStateCodec.encode(key, into: &writer)
                rows.append(writer.bytes + SlotStateCodec.encode(state))
            }
            rows.sort { $0.lexicographicallyPrecedes($1) }
            guard let first = reference else { reference = (replica.name, rows); continue }
            if rows != first.rows {
                let differing = Set(rows.map { Data($0) }).symmetricDifference(Set(first.rows.map { Data($0) })).count
                violation("\(replica.name)'s slot states differ from \(first.name)'s (\(rows.count) against \(first.rows.count) slots, \(differing) encodings differ) although their digests are equal")
            }
        }
    }

    /// No lost write and no superseded version left, on every replica: the
    /// live versions of each slot written are exactly those of the oracle
    /// (legacy peers' versions aside).
    func checkExpectedVersions() throws {
        let expected = oracle.expectedLive()
        for replica in replicas {
            guard let store = replica.store else { continue }
            var reported = 0
            for (key, dots) in expected {
                let state = try store.slotState(key)
                let live = WriteOracle.sorted(state.versions.map(\.dot).filter { $0.replica != legacyReplica })
                guard live != dots else { continue }
                reported += 1
                guard reported <= 10 else { continue }
                let missing = dots.filter { !live.contains($0) }, extra = live.filter { !dots.contains($0) }
                if !missing.isEmpty {
                    violation("\(replica.name): write(s) \(missing) to \(key) lost: no write that saw them, and not live")
                }
                if !extra.isEmpty {
                    violation("\(replica.name): version(s) \(extra) of \(key) still live although a later write saw them")
                }
            }
            if reported > 10 { violation("\(replica.name): \(reported - 10) more slot(s) with other versions than the oracle's") }
        }
    }

    /// Readers show exactly the conflicts the states hold, on every replica.
    func checkConflictsShown() throws {
        let sortKey: (SlotKey) -> [UInt8] = { Array("\($0.collection)/\($0.record)/\($0.field)".utf8) }
        for replica in replicas {
            guard let store = replica.store else { continue }
            var expected: [SlotKey] = []
            try store.forEachSlot { key, state in
                if key.element.isEmpty, SlotReader.scalar(state).isConflicted { expected.append(key) }
            }
            let shown = try store.conflicts().map(\.key)
            if expected.map(sortKey).sorted(by: { $0.lexicographicallyPrecedes($1) }) != shown.map(sortKey).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                violation("\(replica.name) shows conflicts \(shown) but its states hold \(expected)")
            }
        }
    }
}
