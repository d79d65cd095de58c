import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    @Suite struct SyncctlInterchange {
        let root = TemporaryDirectory("syncctl-io")

        func fieldVersions(_ store: Store) throws -> Int {
            try store.schema.tableCollections.flatMap { try store.list($0.name) }.map { record in
                try store.history(record.ref).filter { $0.key.field != SlotKey.existsField }.count
            }.reduce(0, +)
        }

        @Test(arguments: ["csv", "json", "jsonl"])
        func exportThenImportChangesNothing(_ format: String) throws {
            let cli = try Syncctl(in: root)
            let file = root.path("export.\(format)")
            var arguments = ["export", "--format", format, "--output", file]
            if format == "csv" { arguments += ["--collection", "agreements"] }
            #expect(try cli.run(arguments).status == 0)
            let before = try cli.digest()
            var importArguments = ["import", file, "--json"]
            if format == "csv" { importArguments += ["--collection", "agreements"] }
            let run = try cli.run(importArguments)
            #expect(run.status == 0, "\(run)")
            let report = try run.json() as? [String: Int]
            #expect(report?["changed"] == 0 && report?["created"] == 0 && report?["slotsWritten"] == 0, "\(run)")
            #expect(try cli.digest() == before)
        }

        @Test func editingThreeCellsWritesThreeVersions() throws {
            let cli = try Syncctl(in: root)
            let file = root.path("agreements.csv")
            #expect(try cli.run(["export", "--collection", "agreements", "--output", file]).status == 0)
            var lines = try String(contentsOfFile: file, encoding: .utf8).components(separatedBy: "\n")
            let header = CSVRow(lines[0])
            let status = header.firstIndex(of: "status")!, terms = header.firstIndex(of: "terms")!
            for (offset, line) in [(1, "suspended"), (2, "expired")] {
                var row = CSVRow(lines[offset]); row[status] = line; lines[offset] = CSV.line(row)
            }
            var third = CSVRow(lines[3]); third[terms] = "Terms, with a comma and \"quotes\""; lines[3] = CSV.line(third)
            try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)

            let before = try fieldVersions(cli.store())
            let run = try cli.run(["import", file, "--collection", "agreements"])
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("0 created, 3 changed"), "\(run)")
            #expect(try fieldVersions(cli.store()) == before + 3)
            let again = try cli.run(["import", file, "--collection", "agreements"])
            #expect(again.stdout.contains("0 created, 0 changed"), "\(again)")
        }

        @Test func aBadFileWritesNothingAndListsEveryBadRow() throws {
            let cli = try Syncctl(in: root)
            let before = try cli.digest()
            let badHeader = root.path("bad-header.csv")
            try "id,titel,status\nx,Some title,active\n".write(toFile: badHeader, atomically: true, encoding: .utf8)
            let header = try cli.run(["import", badHeader, "--collection", "agreements"])
            #expect(header.status == 1 && header.stderr.contains("titel") && header.stderr.contains("Did you mean 'title'?"), "\(header)")

            let badRows = root.path("bad-rows.csv")
            try """
                id,title,status,announced
                good-one,A fine deal,active,2025-01-02
                bad-status,Deal,paused,2025-01-02
                bad-date,Deal,active,2025-02-30
                ,No id,active,
                new-without-title,,active,
                """.write(toFile: badRows, atomically: true, encoding: .utf8)
            let rows = try cli.run(["import", badRows, "--collection", "agreements"])
            #expect(rows.status == 1)
            for line in ["line 3", "line 4", "line 5", "line 6"] { #expect(rows.stderr.contains(line), "\(line) not listed:\n\(rows)") }
            #expect(!rows.stderr.contains("line 2"))
            #expect(try cli.digest() == before, "a bad file wrote something")
        }

        @Test func largeImportsShowProgress() throws {
            let cli = try Syncctl(in: root)
            let file = root.path("many.jsonl")
            let lines = (0..<3_000).map { #"{"collection":"countries","id":"bulk-\#($0)","fields":{"name":"Country \#($0)"}}"# }
            try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let run = try cli.run(["import", file])
            #expect(run.status == 0 && run.stdout.contains("3000 created"), "\(run)")
            #expect(run.stderr.contains("imported 3000/3000"))
        }
    }
}

/// Splits one CSV line (test data has no line breaks inside fields).
func CSVRow(_ line: String) -> [String] { (try? CSV.parse(line).first?.fields) ?? [] }
