import ArgumentParser
import SyncCore

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every version of a record or one of its fields: value, author, replica, time.",
        discussion: "Example: syncctl history agreements/green-minerals-initiative status")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The record, as COLLECTION/ID.", valueName: "collection/id")) var record: String
    @Argument(help: "Only this field.") var field: String?

    func run() throws {
        try reportingErrors {
            let ref = try parseRecordRef(record)
            let store = try global.openStore()
            let entries = try store.history(ref, field: field)
            guard !entries.isEmpty else { throw StoreError.recordNotFound(ref) }
            for entry in entries {
                let slot = entry.key.element.isEmpty ? entry.key.field : "\(entry.key.field)[\(entry.key.element)]"
                print("\(entry.version.hlc)  \(slot) = \(Display.value(entry.version.value))  by \(entry.version.author) on \(entry.version.dot.replica.short)  \(entry.isCurrent ? "current" : "superseded")")
            }
        }
    }
}
