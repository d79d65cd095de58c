import ArgumentParser
import Foundation
import SyncCore

/// `syncctl schema …`: the team's schema as replicated data (docs/schema.md
/// "How the schema evolves"). Every change is one local write to `_schema`,
/// replicated like any edit; only additive changes are accepted.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Show the team's schema, or add to it (replicated to every peer).",
        discussion: """
            The schema is data: a change made here reaches every peer like an
            edit, and each replica's SQL tables gain the new columns while
            syncd runs. Changes are additive only: a field is never removed or
            retyped and an enum never narrowed (deprecate it, add a new field,
            move values with export/import). See docs/schema.md.

            Examples:
              syncctl schema show
              syncctl schema add-field agreements value_usd decimal --description "Headline value in USD"
              syncctl schema add-collection mines --description "Mines and deposits"
              syncctl schema add-field mines country ref --targets countries
              syncctl schema add-field mines stage enum --values producing,exploration
              syncctl schema add-value mines stage care-and-maintenance
              syncctl schema describe agreements value_usd --label "Value (USD)"
              syncctl schema deprecate-field agreements notes
            """,
        subcommands: [Show.self, AddCollection.self, AddField.self, AddValue.self, AddTarget.self, Describe.self, DeprecateField.self],
        defaultSubcommand: Show.self)

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the schema this replica validates against, and any withheld definition.",
            discussion: "Examples:\n  syncctl schema show\n  syncctl schema show mines\n  syncctl schema show --json")

        @OptionGroup var global: GlobalOptions
        @Argument(help: "Only this collection.") var collection: String?

        func run() throws {
            try reportingErrors {
                let store = try global.openStore(readOnly: true)
                let schema = store.schema
                let collections = try collection.map { [try schema.requireCollection($0)] } ?? schema.tableCollections
                let problems = store.schemaDefinitionProblems
                if global.json {
                    struct Out: Encodable {
                        let name: String, hash: String, collections: [CollectionSchema], withheld: [String]
                    }
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                    let out = Out(name: schema.name, hash: schema.hash, collections: collections, withheld: problems.map(\.description))
                    print(String(decoding: try encoder.encode(out), as: UTF8.self))
                    return
                }
                print("schema \(schema.name) (\(schema.hash.prefix(12)))")
                for collection in collections {
                    print("")
                    print(collection.name + (collection.description.map { " — \($0)" } ?? ""))
                    for field in collection.fields {
                        var line = "  \(field.name): \(Self.typeText(field))"
                        if field.isRequired { line += " required" }
                        if let values = field.values { line += " [\(values.joined(separator: ", "))]" }
                        if let targets = field.targets { line += " → \(targets.joined(separator: ", "))" }
                        if let label = field.label { line += " “\(label)”" }
                        if field.isDeprecated { line += " (deprecated: hidden from forms and tables)" }
                        if let description = field.description { line += " — \(description)" }
                        print(line)
                    }
                }
                if !problems.isEmpty {
                    print("")
                    print("withheld (their data is kept; `syncctl conflicts _schema` lists the conflicts):")
                    for problem in problems { print("  \(problem)") }
                }
            }
        }

        static func typeText(_ field: FieldSchema) -> String {
            field.type == .set ? "set of \(field.of?.rawValue ?? "text")" : field.type.rawValue
        }
    }

    struct AddCollection: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-collection", abstract: "Add a collection (a new SQL table on every replica).",
            discussion: "Example:\n  syncctl schema add-collection mines --description \"Mines and deposits\"")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Lower-case letters, digits and '_'.") var name: String
        @Option(help: "What the collection holds.") var description: String?

        func run() throws { try change(global, .addCollection(name: name, description: description)) }
    }

    struct AddField: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-field", abstract: "Add a field (a new column on every replica).",
            discussion: """
                TYPE is text, integer, decimal, date, bool, enum (with --values), ref
                (with --targets), set:text or set:ref (with --targets). A new field
                is never required.

                Examples:
                  syncctl schema add-field agreements value_usd decimal --description "Headline value in USD"
                  syncctl schema add-field mines stage enum --values producing,exploration
                  syncctl schema add-field mines operators set:ref --targets companies
                """)
        @OptionGroup var global: GlobalOptions
        @Argument var collection: String
        @Argument var field: String
        @Argument(help: "text, integer, decimal, date, bool, enum, ref, set:text or set:ref.") var type: String
        @Option(help: "Enum values, comma-separated.") var values: String?
        @Option(help: "Target collections of a reference, comma-separated.") var targets: String?
        @Option(help: "What the field means.") var description: String?

        func run() throws {
            try change(global, .addField(collection: collection, field: field, type: type, values: list(values), targets: list(targets), description: description))
        }
    }

    struct AddValue: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-value", abstract: "Allow one more value in an enum field.",
            discussion: "Example:\n  syncctl schema add-value agreements status renegotiating")
        @OptionGroup var global: GlobalOptions
        @Argument var collection: String
        @Argument var field: String
        @Argument var value: String

        func run() throws { try change(global, .addValue(collection: collection, field: field, value: value)) }
    }

    struct AddTarget: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-target", abstract: "Let a reference field point into one more collection.",
            discussion: "Example:\n  syncctl schema add-target agreements parties mines")
        @OptionGroup var global: GlobalOptions
        @Argument var collection: String
        @Argument var field: String
        @Argument var target: String

        func run() throws { try change(global, .addTarget(collection: collection, field: field, target: target)) }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set the label or description of a field, or the description of a collection.",
            discussion: """
                Examples:
                  syncctl schema describe agreements value_usd --label "Value (USD)" --description "Headline value, as announced"
                  syncctl schema describe mines --description "Mines and deposits"
                """)
        @OptionGroup var global: GlobalOptions
        @Argument var collection: String
        @Argument var field: String?
        @Option(help: "A short name shown in forms and tables (fields only).") var label: String?
        @Option(help: "What it means.") var description: String?

        func run() throws { try change(global, .describe(collection: collection, field: field, label: label, description: description)) }
    }

    struct DeprecateField: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "deprecate-field", abstract: "Hide a field from forms and tables; its data is kept and still readable.",
            discussion: "Example:\n  syncctl schema deprecate-field agreements notes")
        @OptionGroup var global: GlobalOptions
        @Argument var collection: String
        @Argument var field: String

        func run() throws { try change(global, .deprecateField(collection: collection, field: field)) }
    }
}

private func list(_ text: String?) -> [String] {
    ScalarText.split(text ?? "", at: ",").map { ScalarText.trimming($0, where: SetCell.isBlank) }.filter { !$0.isEmpty }
}

/// Writes one change and says what it did and where it goes next.
private func change(_ global: GlobalOptions, _ change: SchemaEvolution.Change) throws {
    try reportingErrors {
        let store = try global.openStore()
        let (receipt, writes) = try store.changeSchema(change, author: try global.resolvedAuthor())
        global.nudgeDaemon()
        guard receipt.slotsWritten > 0 else {
            print("nothing to change: the schema says so already")
            return
        }
        print("changed the schema (_schema/\(writes.record), \(receipt.slotsWritten) slots written); it reaches peers like any edit")
        for problem in store.schemaDefinitionProblems where problem.record == writes.record {
            print("withheld here: \(problem)")
        }
    }
}
