import ArgumentParser
import Foundation
import SyncCore

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Report schema problems, dangling references, missing required fields, future-dated versions and dot collisions.",
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
        let dotCollisions: [Item]
        let replicaIDs: [Item]

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
                clockSkewedPeers: report.clockReports.map { .init(slot: "replica \($0.peer.short)", detail: "sent \($0.count) versions up to \($0.maxAheadMillis / 1_000)s ahead") },
                dotCollisions: report.dotCollisions.map {
                    .init(slot: $0.key.description, detail: "dot \($0.dot) held with two contents (two databases shared replica \($0.dot.replica.short): a copied database?); every replica keeps the same one\($0.peer.map { ", seen from replica \($0.short)" } ?? "")")
                },
                replicaIDs: report.replicaLog.map { .init(slot: "replica \($0.replica.short)", detail: "since \(Display.time($0.startedAt)): \($0.reason)") })
            try global.emit(output) {
                let sections: [(String, [Output.Item])] = [
                    ("changes stored but failing the local schema", output.schemaProblems),
                    ("dangling references", output.danglingReferences),
                    ("missing required fields", output.missingRequired),
                    ("future-dated versions", output.futureVersions),
                    ("peers with clocks ahead", output.clockSkewedPeers),
                    ("dots held with two contents", output.dotCollisions),
                ]
                for (title, items) in sections {
                    print("\(title): \(items.isEmpty ? "none" : String(items.count))")
                    for item in items.prefix(50) { print("  \(item.slot): \(item.detail)") }
                    if items.count > 50 { print("  … and \(items.count - 50) more (see --json)") }
                }
                print("replica ids of this database: \(output.replicaIDs.count)")
                for item in output.replicaIDs.prefix(5) { print("  \(item.slot): \(item.detail)") }
            }
            if !report.isClean { throw ExitCode(1) }
        }
    }
}
