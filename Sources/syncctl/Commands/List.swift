import ArgumentParser
import SyncCore

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the records of a collection.",
        discussion: "Example: syncctl list agreements --where status=active")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The collection.") var collection: String
    @Option(name: .customLong("where"), help: ArgumentHelp("Keep records whose FIELD equals VALUE (repeatable).", valueName: "field=value"))
    var filters: [String] = []
    @Flag(help: "Only records with a conflict.") var conflicted = false

    func run() throws {
        try reportingErrors {
            let store = try global.openStore()
            let schema = try store.schema.requireCollection(collection)
            let parsed = try filters.map { filter -> (field: String, value: Value) in
                guard let equals = filter.firstIndex(of: "=") else { throw ValidationError("--where takes FIELD=VALUE, got '\(filter)'") }
                return (String(filter[..<equals]), .text(String(filter[filter.index(after: equals)...])))
            }
            let records = try store.list(collection, where: parsed, conflictedOnly: conflicted)
            let columns = Array(schema.fields.filter { !$0.isSet }.prefix(2))
            for record in records {
                let cells = columns.map { Display.fit(Display.value(record.values[$0.name] ?? .null), 30) }
                print("\(Display.fit(record.id, 28)) \(cells.joined(separator: " "))\(record.isConflicted ? " !!" : "")")
            }
            print("\(records.count) record(s)")
        }
    }
}

extension ListedRecord {
    var id: String { ref.id }
}
