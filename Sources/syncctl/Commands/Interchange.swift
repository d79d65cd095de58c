import ArgumentParser
import Foundation
import SyncCore

extension RecordFileFormat: ExpressibleByArgument {}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import records from CSV, JSON or JSONL: only cells that differ are written.",
        discussion: """
            Reports created, changed and unchanged records. A file with any bad row
            writes nothing and lists every bad row. Columns (CSV) or fields (JSON) a
            file leaves out are not touched. Formats: docs/interchange.md.

            Examples:
              syncctl import agreements.csv --collection agreements
              syncctl import dataset.json
              syncctl import changes.jsonl --format jsonl
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The file to import (- for standard input).", valueName: "file")) var file: String
    @Option(help: "The collection (required for CSV; checks JSON records).") var collection: String?
    @Option(help: "csv, json or jsonl (default: from the file extension).") var format: RecordFileFormat?

    func run() throws {
        try reportingErrors {
            guard let format = format ?? RecordFileFormat(path: file) else {
                throw ValidationError("cannot tell the format of '\(file)': give --format csv, json or jsonl")
            }
            let text: String
            do {
                text = file == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                                   : try String(contentsOfFile: file, encoding: .utf8)
            } catch { throw CLIError("cannot read \(file): \(error.localizedDescription)") }
            let store = try global.openStore()
            let (rows, errors) = try RecordFile.parseKeepingGoodRows(text, format: format, collection: collection, schema: store.schema)
            let progress = Progress(label: "imported", total: rows.count, enabled: rows.count > 2_000 && !global.json)
            let report = try store.importRows(rows, author: try global.resolvedAuthor(), knownErrors: errors) { progress.update($0) }
            progress.finish()
            if report.slotsWritten > 0 { global.nudgeDaemon() }
            struct Output: Encodable { let created, changed, unchanged, slotsWritten: Int }
            try global.emit(Output(created: report.created, changed: report.changed, unchanged: report.unchanged, slotsWritten: report.slotsWritten)) {
                print("\(report.created) created, \(report.changed) changed, \(report.unchanged) unchanged (\(report.slotsWritten) slots written)")
            }
        }
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export the current state as CSV, JSON or JSONL, re-importable with no changes.",
        discussion: """
            Conflicted fields export their current winner; deleted records are left out.

            Examples:
              syncctl export --collection agreements --format csv --output agreements.csv
              syncctl export --format json --output dataset.json
              syncctl export --collection countries --format jsonl
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this collection (required for CSV).") var collection: String?
    @Option(help: "csv, json or jsonl (default: from --output's extension, else json).") var format: RecordFileFormat?
    @Option(help: ArgumentHelp("Write here instead of standard output.", valueName: "file")) var output: String?

    func run() throws {
        try reportingErrors {
            let format = format ?? output.flatMap(RecordFileFormat.init(path:)) ?? .json
            let store = try global.openStore(readOnly: true)
            let collections = try collection.map { [try store.schema.requireCollection($0)] } ?? store.schema.tableCollections
            if format == .csv && collections.count != 1 { throw ValidationError("a CSV file holds one collection: give --collection") }
            var sink = try OutputSink(path: output)
            var count = 0
            let total = try store.recordCounts().filter { name, _ in collections.contains { $0.name == name } }.values.reduce(0, +)
            let progress = Progress(label: "exported", total: total, enabled: total > 2_000 && output != nil)
            var objects: [Any] = []
            for collection in collections {
                let records = try store.list(collection.name)
                switch format {
                case .csv:
                    for line in RecordExport.csvLines(records, collection: collection) { try sink.write(line + "\n") }
                case .jsonl:
                    for record in records {
                        try sink.write(String(decoding: try RecordExport.jsonData(RecordExport.jsonObject(record, collection: collection), pretty: false), as: UTF8.self) + "\n")
                        count += 1
                        if count % 1_000 == 0 { progress.update(count) }
                    }
                case .json:
                    objects += records.map { RecordExport.jsonObject($0, collection: collection) }
                }
                count += format == .jsonl ? 0 : records.count
                progress.update(count)
            }
            if format == .json { try sink.write(String(decoding: try RecordExport.jsonData(objects, pretty: true), as: UTF8.self) + "\n") }
            try sink.close()
            progress.finish()
            if let output { FileHandle.standardError.write(Data("exported \(count) records to \(output)\n".utf8)) }
        }
    }
}

/// Standard output, or a file written to a temporary name and renamed at the
/// end, so a failed export never leaves half a file behind.
struct OutputSink {
    let path: String?
    let handle: FileHandle
    let temporary: String?

    init(path: String?) throws {
        self.path = path
        guard let path else {
            handle = .standardOutput
            temporary = nil
            return
        }
        let temporary = path + ".partial"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else { throw CLIError("cannot write \(path)") }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
        self.temporary = temporary
    }

    mutating func write(_ text: String) throws { try handle.write(contentsOf: Data(text.utf8)) }

    func close() throws {
        guard let path, let temporary else { return }
        try handle.close()
        guard rename(temporary, path) == 0 else { throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}
