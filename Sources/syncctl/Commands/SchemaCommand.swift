import ArgumentParser
import Foundation
import SyncCore

/// `syncctl schema …`: the replicated schema (docs/schema.md, "How the schema evolves").
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Show the schema, or change it: additions replicate to every peer like edits.",
        discussion: """
            The schema is replicated data: a change made here is written as an edit
            (author, time, history), reaches every peer, and the SQL tables follow (a new
            field is a new column). Only additions are possible; removing a field,
            changing its type or narrowing an enum is refused with what to do instead.

            Examples:
              syncctl schema show
              syncctl schema show agreements --json
              syncctl schema add-field agreements value_usd decimal --description "Headline value in USD"
              syncctl schema add-field agreements stage enum --values signed,ratified,in-force
              syncctl schema add-collection mines --description "Mines and deposits"
              syncctl schema add-field mines country ref --targets countries
              syncctl schema add-value countries region arctic
              syncctl schema deprecate-field countries notes
            """,
        subcommands: [ShowSchema.self, AddCollection.self, AddField.self, AddValue.self, AddTarget.self, DescribeSchema.self, DeprecateField.self],
        defaultSubcommand: ShowSchema.self)
}

/// Runs one schema change through the store (a running daemon ships it).
private func change(_ global: GlobalOptions, _ change: SchemaEvolution.Change, done: String) throws {
    try reportingErrors {
        let store = try global.openStore()
        let receipt = try store.changeSchema(change, author: try global.resolvedAuthor())
        global.nudgeDaemon()
        print("\(done) (\(receipt.slotsWritten) slots written; the schema is now \(store.schema.hash.prefix(12)))")
    }
}

struct ShowSchema: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show the schema this replica holds now (seed and additions).",
                                                    discussion: "Examples: syncctl schema show; syncctl schema show agreements --json")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Only this collection.") var collection: String?

    func run() throws {
        try reportingErrors {
            let store = try global.openStore(readOnly: true)
            let effective = store.effectiveSchema
            var collections = effective.schema.collections
            if let collection {
                guard let one = effective.schema.collection(collection) else { throw CLIError("unknown collection '\(collection)'") }
                collections = [one]
            }
            try global.emit(collections) {
                for collection in collections {
                    print("\(collection.name)\(collection.description.map { " — \($0)" } ?? "")")
                    for field in collection.fields {
                        var kind = field.type == .set ? "set of \(field.of?.rawValue ?? "text")" : field.type.rawValue
                        if let values = field.values { kind += " [\(values.joined(separator: ", "))]" }
                        if let targets = field.targets { kind += " → \(targets.joined(separator: ", "))" }
                        let flags = [field.isRequired ? "required" : nil,
                                     effective.deprecated[collection.name]?.contains(field.name) == true ? "deprecated" : nil].compactMap { $0 }
                        print("  \(Display.fit(field.name, 14)) \(kind)\(flags.isEmpty ? "" : " (\(flags.joined(separator: ", ")))")")
                    }
                }
                for problem in effective.problems {
                    print("problem: \(problem)")
                }
            }
        }
    }
}

struct AddCollection: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-collection", abstract: "Add a collection (then its fields with add-field).",
                                                    discussion: "Example: syncctl schema add-collection mines --description \"Mines and deposits\"")
    @OptionGroup var global: GlobalOptions
    @Argument var name: String
    @Option var description: String?

    func run() throws { try change(global, .addCollection(name: name, description: description), done: "added collection \(name)") }
}

struct AddField: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-field", abstract: "Add a field: text, integer, decimal, date, bool, enum (--values), ref (--targets), set:text, set:ref.",
        discussion: """
            A new field is never required (records written before it lack it).
            Examples:
              syncctl schema add-field agreements value_usd decimal
              syncctl schema add-field agreements stage enum --values signed,ratified
              syncctl schema add-field mines owners set:ref --targets organizations,countries
            """)
    @OptionGroup var global: GlobalOptions
    @Argument var collection: String
    @Argument var field: String
    @Argument var type: String
    @Option(help: "Allowed values of an enum, comma-separated.") var values: String?
    @Option(help: "Collections a reference may point into, comma-separated.") var targets: String?
    @Option var description: String?

    func run() throws {
        let split = { (text: String?) in (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        try change(global, .addField(collection: collection, field: field, type: type, values: split(values), targets: split(targets), description: description),
                   done: "added field \(collection).\(field) (\(type))")
    }
}

struct AddValue: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-value", abstract: "Allow one more value in an enum field.",
                                                    discussion: "Example: syncctl schema add-value countries region arctic")
    @OptionGroup var global: GlobalOptions
    @Argument var collection: String
    @Argument var field: String
    @Argument var value: String

    func run() throws { try change(global, .addValue(collection: collection, field: field, value: value), done: "\(collection).\(field) allows '\(value)'") }
}

struct AddTarget: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add-target", abstract: "Let a reference field point into one more collection.",
                                                    discussion: "Example: syncctl schema add-target people organization organizations")
    @OptionGroup var global: GlobalOptions
    @Argument var collection: String
    @Argument var field: String
    @Argument var target: String

    func run() throws { try change(global, .addTarget(collection: collection, field: field, target: target), done: "\(collection).\(field) may point into \(target)") }
}

struct DescribeSchema: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "describe", abstract: "Set the description of a collection or field.",
                                                    discussion: "Examples: syncctl schema describe agreements \"Deals, signed or not\"; syncctl schema describe agreements value_usd \"In USD\"")
    @OptionGroup var global: GlobalOptions
    @Argument var collection: String
    @Argument(help: "The field, then the description; or only the description for the collection.") var words: [String]

    func run() throws {
        guard let text = words.last else { throw ValidationError("give the description") }
        let field = words.count > 1 ? words[0] : nil
        try change(global, .describe(collection: collection, field: field, description: text), done: "described \(collection)\(field.map { ".\($0)" } ?? "")")
    }
}

struct DeprecateField: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deprecate-field", abstract: "Hide a field from forms and tables; its data is kept and readable.",
                                                    discussion: "Example: syncctl schema deprecate-field countries notes")
    @OptionGroup var global: GlobalOptions
    @Argument var collection: String
    @Argument var field: String

    func run() throws { try change(global, .deprecateField(collection: collection, field: field), done: "deprecated \(collection).\(field)") }
}
