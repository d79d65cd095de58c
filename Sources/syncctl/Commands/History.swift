import ArgumentParser
import SyncCore

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every version of a record or one field: value, author, device, time, current or superseded.",
        discussion: """
            Examples:
              syncctl history agreements/green-minerals-initiative
              syncctl history agreements/green-minerals-initiative status --json
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The record, as COLLECTION/ID.", valueName: "collection/id")) var record: String
    @Argument(help: "Only this field.") var field: String?

    func run() throws {
        try reportingErrors {
            let ref = try parseRecordRef(record)
            let store = try global.openStore(readOnly: true)
            let collection = try store.schema.requireCollection(ref.collection)
            let entries = try store.history(ref, field: field)
            guard !entries.isEmpty else {
                if try store.record(ref) == nil { throw StoreError.recordNotFound(ref) }
                // A field the schema does not know shows when a peer wrote it
                // (its conflicts are settled by picking); a name that is
                // neither is a typo, answered with the schema's fields.
                if let field, field != SlotKey.existsField { _ = try collection.requireField(field) }
                throw CLIError("\(ref) has no versions of \(field ?? "any field")")
            }
            let devices = try store.knownDevices()
            let json = HistoryJSON(record: ref, entries: entries, devices: devices)
            try global.emit(json) {
                for entry in entries {
                    let slot = entry.key.element.isEmpty ? Display.name(entry.key.field) : "\(Display.name(entry.key.field))[\(entry.key.element)]"
                    let value = entry.key.element.isEmpty ? Display.value(entry.version.value) : (entry.version.value == .bool(true) ? "added" : "removed")
                    print("\(Display.time(entry.version.hlc.date))  \(slot) = \(Display.clip(value, 40))")
                    print("    by \(entry.version.author) on \(Display.device(entry.version.dot.replica, devices)), \(entry.isCurrent ? "current" : "superseded")")
                }
            }
        }
    }
}
