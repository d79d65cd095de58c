// libFuzzer target: the import parsers (`CSV.parse`, `RecordFile`) and the
// import itself (`Store.importRows`).
//
// Input: one selector byte, then the file's bytes (decoded as UTF-8 with
// replacement, as text read from a file). The selector picks the format
// (`byte % 3`: CSV, JSON, JSONL) and the collection given on the command
// line (`byte / 3 % 8`: the schema's collections in order, 7 = none).
//
// Invariants (a violation traps, which libFuzzer reports as a crash):
//  - parsing never traps, whatever the bytes;
//  - CSV: the rows parsed, written back with `CSV.line` one per line, parse
//    to the same rows (fields compared by their Unicode scalars);
//  - when the file parses without a bad row, importing it into a scratch
//    store (emptied before each input) never traps, and when the import
//    succeeds, exporting the collections it touched (CSV or JSON, as
//    `syncctl export` writes them) and importing that again changes nothing
//    ("importing an export changes nothing", RecordExport);
//    `integrityReport()` does not throw.
//
// Built with `-sanitize=fuzzer -DFUZZING` this is a libFuzzer binary; built
// without (plain `swift build`) it replays the files and directories given
// as arguments through the same checks.

import Foundation
import GRDB
import FuzzSupport
import SyncCore

let schema = Schema.criticalMinerals
let wallMillis: UInt64 = 1_767_225_600_000
let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] == "1"
/// Known findings to step over so a run can look for others (comma-separated):
/// `nul-text`: files whose values hold a NUL byte (stored whole, but read
/// back cut at the NUL by the collection views, so the export differs).
let ignored = Set((ProcessInfo.processInfo.environment["FUZZ_IGNORE"] ?? "").split(separator: ",").map(String.init))

nonisolated(unsafe) var scratchStore: Store?
nonisolated(unsafe) var scratchDirectory: URL?

func scratch() -> Store {
    if let store = scratchStore { return store }
    FuzzDriver.removeStaleScratch(prefix: "fuzz-import")
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-import-\(getpid())-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    scratchDirectory = directory
    atexit { if let directory = scratchDirectory { try? FileManager.default.removeItem(at: directory) } }
    var options = Store.Options()
    options.wallClock = { wallMillis }
    do {
        scratchStore = try Store(path: directory.appendingPathComponent("data.db").path, options: options)
    } catch {
        fatalError("fuzz-import: cannot create the scratch store: \(error)")
    }
    return scratchStore!
}

/// Empties the store (every table's rows; counter and clock zeroed).
func reset(_ store: Store) {
    do {
        try store.withWriteTransaction { db in
            let tables = try String.fetchAll(db, sql: """
                SELECT name FROM sqlite_master WHERE type = 'table'
                AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'grdb\\_%' ESCAPE '\\' AND name != 'sync_meta'
                """)
            for table in tables { try db.execute(sql: "DELETE FROM \(table.quotedDatabaseIdentifier)") }
            try db.execute(sql: "UPDATE sync_meta SET value = 0 WHERE key IN ('counter', 'hlc')")
        }
    } catch {
        fatalError("fuzz-import: cannot reset the scratch store: \(error)")
    }
}

func fuzzOne(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let text = String(decoding: input.dropFirst(), as: UTF8.self)
    let format = RecordFileFormat.allCases[Int(selector) % 3]
    let pick = Int(selector) / 3 % 8
    let collection = pick < schema.collections.count ? schema.collections[pick].name : nil

    checkCSVRoundTrip(text, input)

    let parsed: (rows: [RecordRow], errors: [RowError])
    do {
        parsed = try RecordFile.parseKeepingGoodRows(text, format: format, collection: collection, schema: schema)
    } catch {
        if verbose { print("\(format) \(collection ?? "-"): refused: \(String(describing: error).prefix(200))") }
        return
    }
    if verbose { print("\(format) \(collection ?? "-"): \(parsed.rows.count) row(s), \(parsed.errors.count) error(s)") }
    guard parsed.errors.isEmpty, !parsed.rows.isEmpty else { return }
    if ignored.contains("nul-text"), parsed.rows.contains(where: { row in row.cells.values.contains { cell in
        switch cell {
        case .scalar(.text(let text)): text.utf8.contains(0)
        case .members(let members): members.contains { $0.utf8.contains(0) }
        default: false
        }
    } }) { return }

    let store = scratch()
    reset(store)
    do {
        let report = try store.importRows(parsed.rows, author: "fuzz")
        if verbose { print("  imported: \(report)") }
    } catch {
        if verbose { print("  import refused: \(String(describing: error).prefix(200))") }
        return
    }
    checkExportReimports(store, collections: Set(parsed.rows.map(\.ref.collection)), json: selector & 0x80 != 0, input)
    do { _ = try store.integrityReport() } catch { fail("integrityReport() throws after an import: \(error)", input) }
}

func checkCSVRoundTrip(_ text: String, _ input: [UInt8]) {
    guard let rows = try? CSV.parse(text) else { return }
    // A BOM opening the first field is dropped by the parser (on purpose).
    if let first = rows.first?.fields.first, first.unicodeScalars.first == "\u{FEFF}" { return }
    let written = rows.map { CSV.line($0.fields) + "\n" }.joined()
    let again: [(line: Int, fields: [String])]
    do { again = try CSV.parse(written) } catch {
        fail("CSV written back from parsed rows does not parse: \(error)\n  written: \(written.debugDescription.prefix(400))", input)
    }
    func scalars(_ table: [(line: Int, fields: [String])]) -> [[[Unicode.Scalar]]] {
        table.map { $0.fields.map { Array($0.unicodeScalars) } }
    }
    if scalars(again) != scalars(rows) {
        fail("CSV rows change when written back and parsed again:\n  parsed  \(rows.map(\.fields).debugDescription.prefix(400))\n  again   \(again.map(\.fields).debugDescription.prefix(400))", input)
    }
}

/// Exports what the import wrote and imports it again: nothing may change.
func checkExportReimports(_ store: Store, collections: Set<String>, json: Bool, _ input: [UInt8]) {
    for name in collections.sorted() {
        guard let collection = schema.collection(name) else { continue }
        let records: [ListedRecord]
        do { records = try store.list(name) } catch { fail("cannot list \(name) after an import: \(error)", input) }
        guard !records.isEmpty else { continue }
        let file: String
        if json {
            do {
                file = String(decoding: try RecordExport.jsonData(records.map { RecordExport.jsonObject($0, collection: collection) }, pretty: false), as: UTF8.self)
            } catch { fail("cannot export \(name) as JSON: \(error)", input) }
        } else {
            file = RecordExport.csvLines(records, collection: collection).map { $0 + "\n" }.joined()
        }
        let rows: [RecordRow]
        do {
            rows = try RecordFile.parse(file, format: json ? .json : .csv, collection: name, schema: schema)
        } catch {
            fail("the export of \(name) does not parse: \(error)\n  export: \(file.debugDescription.prefix(600))", input)
        }
        let report: ImportReport
        do { report = try store.importRows(rows, author: "fuzz") } catch {
            fail("the export of \(name) cannot be imported back: \(error)\n  export: \(file.debugDescription.prefix(600))", input)
        }
        if report.created != 0 || report.changed != 0 || report.slotsWritten != 0 {
            fail("importing the export of \(name) changed something: \(report)\n  export: \(file.debugDescription.prefix(600))", input)
        }
    }
}

// MARK: - reporting


func fail(_ message: String, _ input: [UInt8]) -> Never {
    FuzzDriver.fail("fuzz-import", String(message.prefix(2_000)), input)
}

func hex(_ bytes: [UInt8]) -> String { FuzzDriver.hex(bytes) }

@main
enum FuzzMain {
    static func main() { FuzzDriver.run(fuzzOne) }
}
