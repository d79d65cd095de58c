import ArgumentParser
import Foundation
import SyncCore

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report schema problems, dangling references, missing required fields and future-dated versions.",
        discussion: """
            Exits 0 when nothing is found, 1 otherwise. Nothing is changed.

            Examples:
              syncctl check
              syncctl check --json
            """)

    @OptionGroup var global: GlobalOptions

    struct Output: Encodable {
        let clean: Bool
        let schemaProblems: [Item]
        let danglingReferences: [Item]
        let missingRequired: [Item]
        let futureVersions: [Item]
        let clockSkewedPeers: [Item]

        struct Item: Encodable {
            let slot: String
            let detail: String
        }
    }

    func run() throws {
        try reportingErrors {
            let report = try global.openStore(readOnly: true).integrityReport()
            let output = Output(
                clean: report.isClean,
                schemaProblems: report.schemaProblems.map { .init(slot: $0.key.description, detail: $0.problem + ($0.peer.map { " (from replica \($0.short))" } ?? "")) },
                danglingReferences: report.danglingReferences.map { .init(slot: "\($0.record).\($0.field)", detail: "refers to \($0.target), which does not exist") },
                missingRequired: report.missingRequired.map { .init(slot: "\($0.record).\($0.field)", detail: "required field is empty") },
                futureVersions: report.futureVersions.map {
                    .init(slot: $0.key.description, detail: "dated \(Display.time($0.version.hlc.date)), \($0.aheadMillis / 1_000)s ahead, by \($0.version.author) on replica \($0.version.dot.replica.short)")
                },
                clockSkewedPeers: report.clockReports.map { .init(slot: "replica \($0.peer.short)", detail: "sent \($0.count) versions up to \($0.maxAheadMillis / 1_000)s ahead") })
            try global.emit(output) {
                let sections: [(String, [Output.Item])] = [
                    ("changes stored but failing the local schema", output.schemaProblems),
                    ("dangling references", output.danglingReferences),
                    ("missing required fields", output.missingRequired),
                    ("future-dated versions", output.futureVersions),
                    ("peers with clocks ahead", output.clockSkewedPeers),
                ]
                for (title, items) in sections {
                    print("\(title): \(items.isEmpty ? "none" : String(items.count))")
                    for item in items.prefix(50) { print("  \(item.slot): \(item.detail)") }
                    if items.count > 50 { print("  … and \(items.count - 50) more (see --json)") }
                }
            }
            if !report.isClean { throw ExitCode(1) }
        }
    }
}
