import ArgumentParser
import Foundation
import SyncCore

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report schema problems, dangling references, missing required fields, future-dated versions, dot collisions, table rows that disagree with the replicated state, a digest that is not the one the states make, and store tables not declared as syncd declares them.",
        discussion: """
            Exits 0 when nothing is found, 1 otherwise. Nothing is changed, except with
            --repair, which rewrites the collection tables (agreements, countries, …)
            from the replicated state, and the digest buckets from the slots' states
            (a recorded digest that is not the states' means the digest or a state was
            written outside syncd; if a state was, peers see it once the digest is
            repaired, and its copy and theirs compete as a dot held with two contents). SQL writes to the tables are replicated edits
            (docs/sql.md); a row still disagrees when a client wrote it with triggers
            turned off, or the file was edited outside SQLite. Refused SQL edits are
            listed too (`syncctl sql`). Store tables or their indexes declared otherwise
            than syncd declares them (a copied or hand-edited file) are reported, and
            --repair then makes no repair (restore a snapshot, or pull the data again into a
            new data directory); so are UNIQUE indexes of your own on a collection table
            (drop them first). Triggers syncd does not make and SQL-edit queues not laid out
            as queues are reported too: every snapshot of the database fails verification
            while one is there. A collection table made again by another program with
            another key than `id` (none, two columns, COLLATE NOCASE, not TEXT), or with
            columns or constraints syncd's writes trip on (NOT NULL, CHECK, STRICT, a
            column of its own), is reported, and --repair makes it again from the
            replicated state (queued SQL edits are kept; indexes of your own on it go
            with it).

            Examples:
              syncctl check
              syncctl check --json
              syncctl check --repair
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Rewrite table rows that disagree with the replicated state, and digest buckets that are not the ones the states make (the replicated data itself is not changed).")
    var repair = false

    struct Output: Encodable {
        let clean: Bool
        let schemaProblems: [Item]
        let danglingReferences: [Item]
        let missingRequired: [Item]
        let futureVersions: [Item]
        let clockSkewedPeers: [Item]
        let dotCollisions: [Item]
        let replicaIDs: [Item]
        /// Table rows that disagree with the replicated state (at most 1,000 listed).
        let tableRows: [Item]
        let tableRowsCount: Int
        /// SQL edits of the tables refused and kept (docs/sql.md).
        let refusedSQLEdits: [Item]
        /// Rows rewritten by --repair.
        let repaired: Int?
        /// Cells of columns an analyst added, copied aside by --repair
        /// before the rows of no record that held them were removed.
        let keptColumns: [String]?
        /// Digest buckets whose recorded digest is not the one their slots'
        /// states make (after --repair: none, unless written meanwhile).
        let digestBuckets: [Item]
        /// Bucket rows --repair wrote again or removed.
        let digestRepaired: Int?
        /// Why --repair wrote no digest bucket (a record row became unreadable meanwhile).
        let digestRepairRefused: String?
        /// Store tables declared otherwise or their indexes not syncd's
        /// (nothing repairs these in place: a snapshot restore or a new pull
        /// does), UNIQUE indexes syncd does not make on a collection table
        /// (drop them). Either rules --repair out.
        let storeLayout: [String]
        /// Triggers syncd does not make, SQL-edit queues not laid out as
        /// queues: every snapshot of the database fails verification while
        /// one is there (drop it).
        let snapshotBlockers: [String]
        /// Collection tables whose key is not `id` alone, TEXT, compared
        /// as bytes (after --repair: none, unless made so meanwhile).
        let collectionTables: [String]
        /// The tables --repair made again from the replicated state.
        let tablesRebuilt: [String]?

        struct Item: Encodable {
            let slot: String
            let detail: String
        }
    }

    func run() throws {
        try reportingErrors {
            let store = try global.openStore(readOnly: !repair)
            // Every record row read first by storage class: the other checks
            // would stop at a row syncd never writes with a bare decoding error.
            let firstCount = try store.recountDigest()
            if !firstCount.unreadableRows.isEmpty {
                let listed = firstCount.unreadableRows.prefix(5).joined(separator: "; ")
                throw CLIError("""
                    \(firstCount.unreadableRows.count)\(firstCount.unreadableRows.count == DigestRecount.maxListed ? " or more" : "") record row(s) \
                    are not rows syncd writes (\(listed)); the checks stop here and nothing was changed. Restore the last good \
                    snapshot (`syncctl snapshot restore`), or start a new data directory and pull the data again from a peer
                    """)
            }
            // The schema the file holds now (a field syncd added during
            // the count is no unknown field, nor a column of one's own).
            _ = try store.refreshSchemaIfChanged()
            // Store tables declared otherwise (a copied or hand-edited
            // file): the repairs below would write where reads do not look.
            var layout = try store.layoutProblems()
            if repair, !layout.storeTables.isEmpty {
                throw CLIError("""
                    the database's store tables are not as syncd declares them (\(layout.storeTables.prefix(3).joined(separator: "; "))); \
                    no repair was made. Restore the last good snapshot (`syncctl snapshot restore`), or start a new \
                    data directory and pull the data again from a peer
                    """)
            }
            if repair, !layout.uniqueIndexes.isEmpty {
                throw CLIError("no repair was made: \(layout.uniqueIndexes.prefix(3).joined(separator: "; ")); then run `syncctl check --repair` again")
            }
            // Tables keyed otherwise made again first: rows rewritten into
            // them would double or replace other records' rows.
            let rebuilt = repair ? (layout.collectionTables.isEmpty ? [] : try store.rebuildCollectionTables(layout.collectionTables)) : nil
            if rebuilt?.isEmpty == false { layout = try store.layoutProblems() }
            // Repaired first: the other checks read the tables too (a
            // deleted row makes references to it look dangling).
            let viewRepair = repair ? try store.repairViews() : nil
            let repaired = viewRepair?.rows
            var digestRepaired: Int?
            var digestRefusal: String?
            var recount = firstCount
            if repair {
                do {
                    let found = try store.repairDigest(counted: firstCount)
                    digestRepaired = found.differingBuckets.count + found.strayBucketRows.count
                    // Read back what the repair wrote, not assumed; a count
                    // under the lock that found it clean is the state now.
                    recount = found.isClean ? found : try store.recountDigest()
                } catch let refusal as DigestRepairRefusal {
                    // A row became unreadable since the first count: say what the file holds now.
                    digestRefusal = refusal.description
                    recount = try store.recountDigest()
                }
            }
            let report = try store.integrityReport()
            let drift = try store.viewDrift()
            let refusedSQL = try store.sqlEdits(refusedOnly: true, limit: 1_000)
            let output = Output(
                clean: report.isClean && drift.count == 0 && refusedSQL.isEmpty && recount.isClean && layout.isEmpty,
                schemaProblems: report.schemaProblems.map { .init(slot: $0.key.description, detail: $0.problem + ($0.peer.map { " (from replica \($0.short))" } ?? "")) },
                danglingReferences: report.danglingReferences.map { .init(slot: "\($0.record).\($0.field)", detail: "refers to \($0.target), which does not exist") },
                missingRequired: report.missingRequired.map { .init(slot: "\($0.record).\($0.field)", detail: "required field is empty") },
                futureVersions: report.futureVersions.map {
                    .init(slot: $0.key.description, detail: "dated \(Display.time($0.version.hlc.date)), \($0.aheadMillis / 1_000)s ahead, by \($0.version.author) on replica \($0.version.dot.replica.short)")
                },
                clockSkewedPeers: report.clockReports.map { .init(slot: "replica \($0.peer.short)", detail: "sent \($0.count) versions up to \($0.maxAheadMillis / 1_000)s ahead") },
                dotCollisions: report.dotCollisions.map {
                    .init(slot: $0.key.description, detail: "dot \($0.dot) held with two contents (two databases shared replica \($0.dot.replica.short): a copied database?); every replica keeps the same one\($0.peer.map { ", seen from replica \($0.short)" } ?? "")")
                },
                replicaIDs: report.replicaLog.map { .init(slot: "replica \($0.replica.short)", detail: "since \(Display.time($0.startedAt)): \($0.reason)") },
                tableRows: drift.drift.map { item in
                    switch item.kind {
                    case .missingRow: .init(slot: item.ref.description, detail: "the record exists but its table row is missing")
                    case .extraRow: .init(slot: item.ref.description, detail: "a table row for a record that does not exist")
                    case .differs(let columns): .init(slot: item.ref.description, detail: "the table row differs in \(columns.joined(separator: ", ")) from the replicated state")
                    }
                },
                tableRowsCount: drift.count,
                refusedSQLEdits: refusedSQL.map { .init(slot: "SQL edit #\($0.edit) (\($0.operation.rawValue) \($0.collection) \($0.idCell.display))", detail: $0.reason ?? "") },
                repaired: repaired,
                keptColumns: viewRepair?.kept.map(\.description),
                digestBuckets: recount.differingBuckets.map {
                    .init(slot: "bucket \($0)", detail: "its recorded digest is not the one its slots' states make")
                } + recount.strayBucketRows.map {
                    .init(slot: "bucket row \($0)", detail: "numbered outside 0-255: no digest reads it, snapshot verification and joiners refuse the file")
                },
                digestRepaired: digestRepaired,
                digestRepairRefused: digestRefusal,
                storeLayout: layout.storeTables + layout.uniqueIndexes,
                snapshotBlockers: layout.snapshotBlockers,
                collectionTables: layout.collectionTableProblems,
                tablesRebuilt: rebuilt)
            try global.emit(output) {
                let sections: [(String, [Output.Item])] = [
                    ("changes stored but failing the local schema", output.schemaProblems),
                    ("dangling references", output.danglingReferences),
                    ("missing required fields", output.missingRequired),
                    ("future-dated versions", output.futureVersions),
                    ("peers with clocks ahead", output.clockSkewedPeers),
                    ("dots held with two contents", output.dotCollisions),
                    ("table rows that disagree with the replicated state", output.tableRows),
                    ("SQL edits refused and kept (settle with `syncctl sql retry` or `discard`)", output.refusedSQLEdits),
                    ("digest buckets that are not the ones the states make", output.digestBuckets),
                    ("store tables or indexes not as syncd makes them", output.storeLayout.map { .init(slot: "data.db", detail: $0) }),
                    ("collection tables not declared as syncd makes them", output.collectionTables.map { .init(slot: "data.db", detail: $0) }),
                    ("triggers or SQL-edit queues syncd does not make (every snapshot fails verification while they are there)",
                     output.snapshotBlockers.map { .init(slot: "data.db", detail: $0) }),
                ]
                for (title, items) in sections {
                    print("\(title): \(items.isEmpty ? "none" : String(items.count))")
                    for item in items.prefix(50) { print("  \(item.slot): \(item.detail)") }
                    if items.count > 50 { print("  … and \(items.count - 50) more (see --json)") }
                }
                // No `--repair` hint where the store tables rule a repair out (said below).
                let repairHelps = !layout.rulesOutRepair
                if let rebuilt, !rebuilt.isEmpty {
                    print("repaired: made \(rebuilt.joined(separator: ", ")) again from the replicated state, keyed by id (queued SQL edits kept)")
                } else if !layout.collectionTables.isEmpty, repairHelps {
                    print("a collection table declared otherwise than syncd makes it (another program made it again?): its rows can stop being the replicated state (two rows for a record, one record's cells in another's row) or syncd's writes of them fail. `syncctl check --repair` makes it again from the replicated state (queued SQL edits are kept; indexes of your own on it go with it)")
                }
                if let repaired, repaired > 0 { print("repaired: rewrote the tables from the replicated state (\(repaired) row(s) had drifted; cells of columns you added stay)") }
                else if drift.count > 0, repairHelps { print("table rows drifted: \(drift.count); `syncctl check --repair` rewrites them from the replicated state (written with triggers off, which is not replicated, or held back by a UNIQUE index of your own: see above)") }
                for copy in viewRepair?.kept ?? [] { print("kept: \(copy)") }
                if let digestRefusal {
                    print("could not repair the digest: \(digestRefusal)")
                } else if let digestRepaired, digestRepaired > 0 {
                    print("repaired: wrote \(digestRepaired) digest bucket row(s) again from the states of \(recount.slots) slots")
                } else if !recount.differingBuckets.isEmpty, repairHelps {
                    print("the recorded digest is not the one the states make: the digest or a state was written outside syncd (sqlite3?), and this replica and its peers disagree on what it holds. `syncctl check --repair` writes the buckets from the states as they are; if a state was the thing edited, peers then receive the edit as if written here (a value changed under its version's dot competes with theirs as a dot held with two contents, listed here after the next sync)")
                } else if !recount.strayBucketRows.isEmpty, repairHelps {
                    print("digest bucket rows numbered outside 0-255: the digest is right, but snapshot verification and joiners refuse this file; `syncctl check --repair` removes them")
                }
                if !layout.storeTables.isEmpty {
                    print("the store tables are not as syncd declares them (a copied or hand-edited file?): its writes may land where its reads do not look, and snapshots of it are refused. `--repair` cannot mend this and makes no repair while it is so: restore the last good snapshot (`syncctl snapshot restore`), or start a new data directory and pull the data again from a peer")
                }
                if !layout.uniqueIndexes.isEmpty {
                    print("a UNIQUE index of your own on a collection table: syncd's writes of it would remove other records' rows, and `--repair` makes no repair while it is there. Remove it as its line above says, then `syncctl check --repair`")
                }
                if !layout.snapshotBlockers.isEmpty {
                    var advice = ["every snapshot of this database fails verification while these are there."]
                    if !layout.triggers.isEmpty {
                        advice.append("A trigger syncd does not make fires on other programs' writes (syncd's own run with triggers off): drop it with sqlite3 (`DROP TRIGGER name`).")
                    }
                    if !layout.queues.isEmpty {
                        advice.append("An SQL-edit queue not laid out as one was changed by another program: drop the column it added (`ALTER TABLE … DROP COLUMN`), or restore the last good snapshot (docs/sql.md).")
                    }
                    print(advice.joined(separator: " "))
                }
                print("replica ids of this database: \(output.replicaIDs.count)")
                for item in output.replicaIDs.prefix(5) { print("  \(item.slot): \(item.detail)") }
            }
            if !output.clean { throw ExitCode(1) }
        }
    }
}
