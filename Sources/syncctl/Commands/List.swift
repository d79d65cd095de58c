import ArgumentParser
import SyncCore

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the records of a collection as a table.",
        discussion: """
            --where FIELD=VALUE keeps records whose field equals VALUE (for a set
            field: that have VALUE as a member); FIELD= keeps empty ones.

            Examples:
              syncctl list agreements
              syncctl list agreements --where status=active --where parties=countries/cn
              syncctl list agreements --conflicted --json
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The collection.") var collection: String
    @Option(name: .customLong("where"), help: ArgumentHelp("Keep records whose FIELD equals VALUE (repeatable).", valueName: "field=value"))
    var filters: [String] = []
    @Flag(help: "Only records with a conflict.") var conflicted = false

    func run() throws {
        try reportingErrors {
            let store = try global.openStore(readOnly: true)
            let schema = try store.schema.requireCollection(collection)
            let parsed = try filters.map { filter -> (field: String, value: Value) in
                guard let (name, text) = ScalarText.splitOnce(filter, at: "=") else { throw ValidationError("--where takes FIELD=VALUE, got '\(filter)'") }
                let field = try schema.requireField(name)
                // FIELD= on a set keeps records with no members (.null), as on a scalar.
                return (name, field.isSet ? (text.isEmpty ? .null : .text(try field.validateMember(text))) : try field.parse(text))
            }
            guard !global.json else {
                let records = try store.list(collection, where: parsed, conflictedOnly: conflicted)
                let rows = records.map { record in
                    ListJSON.Row(id: record.ref.id, conflicted: record.isConflicted, fields: FieldJSON.fields(of: record, schema.fields))
                }
                return try global.emit(ListJSON(collection: collection, count: records.count, records: rows)) {}
            }
            // Fits 80 columns: the id, then up to three short scalar fields, then a conflict mark.
            // Streamed: rows are printed as they are read.
            let columns = Array(schema.fields.filter { !$0.isSet }.prefix(3))
            let idWidth = 26
            let cellWidth = columns.isEmpty ? 0 : (80 - idWidth - 3 - columns.count) / columns.count
            print(([Display.fit("ID", idWidth)] + columns.map { Display.fit($0.name.uppercased(), cellWidth) }).joined(separator: " "))
            var count = 0, anyConflicted = false
            try store.list(collection, where: parsed, conflictedOnly: conflicted, fields: columns.map(\.name)) { record in
                var line = Display.fit(record.ref.id, idWidth)
                for column in columns { line += " " + Display.fit(Display.value(record.values[column.name] ?? .null), cellWidth) }
                print(record.isConflicted ? line + " !!" : line)
                count += 1
                anyConflicted = anyConflicted || record.isConflicted
            }
            print("\(count) record(s)\(anyConflicted ? "; !! = in conflict (`syncctl conflicts \(collection)`)" : "")")
        }
    }
}
