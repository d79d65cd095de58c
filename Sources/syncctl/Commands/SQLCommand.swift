import ArgumentParser
import Foundation
import SyncCore

/// `syncctl sql`: the edits made to the collection tables with SQL (docs/sql.md).
struct SQLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "List, retry or discard edits made to the collection tables with SQL that the schema refused.",
        discussion: """
            An INSERT, UPDATE or DELETE on a collection's table (agreements, countries, …)
            from any SQLite client is a replicated edit: syncd takes it up within a
            second (or the next syncctl command does). An edit that cannot be written — a
            value the schema does not allow, a field changed meanwhile by a peer — is
            kept with its reason and its table row shows the replicated state again.
            See docs/sql.md.

            Examples:
              sqlite3 ~/.local/share/syncd/data.db "update agreements set status='active' where id='green-minerals-initiative'"
              syncctl sql list
              syncctl sql retry 12        # write it anyway (after a peer's change)
              syncctl sql discard 12
              syncctl sql discard --all
            """,
        subcommands: [List.self, Retry.self, Discard.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show refused SQL edits with their reasons (--all: waiting ones too).",
            discussion: """
                Exits 0 when none is refused, 1 otherwise.

                Examples:
                  syncctl sql list
                  syncctl sql list --json
                """)
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Also list edits still waiting to be taken up.") var all = false
        @Option(help: "List at most this many.") var limit = 1_000

        struct Output: Encodable {
            let pending: Int
            let refused: Int
            let edits: [SQLEditJSON]
        }

        func run() throws {
            try reportingErrors {
                let store = try global.openStore(readOnly: true)
                let counts = try store.sqlEditCounts()
                let edits = try store.sqlEdits(refusedOnly: !all, limit: limit).map { SQLEditJSON($0, schema: store.schema) }
                try global.emit(Output(pending: counts.pending, refused: counts.refused, edits: edits)) {
                    print("SQL edits refused: \(counts.refused), waiting: \(counts.pending)")
                    for edit in edits { print(SQLEditLines.describe(edit)) }
                    if counts.refused > 0 {
                        print("settle each with `syncctl sql retry EDIT` (write it anyway) or `syncctl sql discard EDIT` (drop it)")
                    }
                }
                if counts.refused > 0 { throw ExitCode(1) }
            }
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take refused SQL edits up again, writing them even where the record changed since.",
            discussion: """
                A value the schema refuses is refused again (fix the row and run the
                UPDATE again, or discard the edit).

                Examples:
                  syncctl sql retry 12 13
                  syncctl sql retry --all
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Edit numbers (from `syncctl sql list`).") var edits: [Int64] = []
        @Flag(help: "Every refused edit.") var all = false

        struct Output: Encodable {
            let retried: Int
            let applied: Int
            let refused: [SQLEditJSON]
        }

        func validate() throws {
            guard all != !edits.isEmpty else { throw ValidationError("give edit numbers (see `syncctl sql list`) or --all") }
        }

        func run() throws {
            try reportingErrors {
                let store = try global.openStore()
                let (retried, report) = try store.retrySQLEdits(all ? nil : edits, author: try global.resolvedAuthor())
                if report.applied > 0 { global.nudgeDaemon() }
                let refused = report.refused.map { SQLEditJSON($0, schema: store.schema) }
                try global.emit(Output(retried: retried, applied: report.applied + report.unchanged, refused: refused)) {
                    print("retried \(retried) edit(s): \(report.applied + report.unchanged) written, \(report.refusedCount) refused again")
                    for edit in refused { print(SQLEditLines.describe(edit)) }
                }
                if let stopped = report.stoppedBy {
                    throw CLIError("stopped part way by \(stopped): the edits above are written; the rest are no longer refused and stay queued, taken up at syncd's next poll (or by the next syncctl command when no daemon runs); free disk space or end what holds the database")
                }
                if report.refusedCount > 0 { throw ExitCode(1) }
            }
        }
    }

    struct Discard: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop refused SQL edits for good.",
            discussion: """
                Examples:
                  syncctl sql discard 12
                  syncctl sql discard --all
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Edit numbers (from `syncctl sql list`).") var edits: [Int64] = []
        @Flag(help: "Every refused edit.") var all = false

        struct Output: Encodable { let discarded: Int }

        func validate() throws {
            guard all != !edits.isEmpty else { throw ValidationError("give edit numbers (see `syncctl sql list`) or --all") }
        }

        func run() throws {
            try reportingErrors {
                let store = try global.openStore()
                let discarded = try store.discardSQLEdits(all ? nil : edits)
                try global.emit(Output(discarded: discarded)) { print("discarded \(discarded) refused SQL edit(s)") }
            }
        }
    }
}

/// Human lines for one SQL edit.
enum SQLEditLines {
    static func describe(_ edit: SQLEditJSON) -> String {
        var lines = ["#\(edit.edit) \(edit.operation) \(edit.collection)/\(edit.id.display.trimmingCharacters(in: CharacterSet(charactersIn: "'"))) at \(Display.time(edit.at))"]
        for change in edit.changes {
            lines.append("    \(change.column): \(change.before?.display ?? "—") → \(change.after?.display ?? "—")")
        }
        if let reason = edit.reason { lines.append("    refused: \(reason)") } else { lines.append("    waiting to be taken up") }
        return lines.joined(separator: "\n")
    }
}
