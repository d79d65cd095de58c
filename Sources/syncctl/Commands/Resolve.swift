import ArgumentParser
import Foundation
import SyncCore

struct Resolve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resolve a conflict by picking a sibling or giving a value; or walk through them all.",
        discussion: """
            The sibling numbers are those `syncctl conflicts` showed. Resolve refuses,
            writing nothing, if the siblings changed since they were listed (a sync
            brought another version): list them again and decide again. For a deleted-
            vs-edited record, resolve the field _exists (keep or delete).

            Examples:
              syncctl resolve agreements/green-minerals-initiative status --pick 2
              syncctl resolve agreements/green-minerals-initiative status --value suspended
              syncctl resolve people/li-qiang _exists --pick 1
              syncctl resolve --interactive agreements
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The record (COLLECTION/ID), or with --interactive an optional collection.", valueName: "collection/id"))
    var record: String?
    @Argument(help: "The conflicted field.") var field: String?
    @Option(help: ArgumentHelp("Keep sibling N as listed by `syncctl conflicts`.", valueName: "n")) var pick: Int?
    @Option(help: ArgumentHelp("Write this value instead (`keep`/`delete` for _exists).", valueName: "value")) var value: String?
    @Option(help: ArgumentHelp("The token `syncctl conflicts` printed (default: the last listing).", valueName: "token")) var expect: String?
    @Flag(help: "Walk through open conflicts one by one: pick, type a value, skip or quit.") var interactive = false

    func validate() throws {
        if interactive {
            guard pick == nil, value == nil, field == nil else { throw ValidationError("--interactive takes at most a collection, without --pick or --value") }
            return
        }
        guard record != nil, field != nil else { throw ValidationError("give COLLECTION/ID FIELD and --pick N or --value V (or use --interactive)") }
        guard (pick == nil) != (value == nil) else { throw ValidationError("give exactly one of --pick N and --value V") }
    }

    func run() throws {
        try reportingErrors {
            let store = try global.openStore()
            if interactive {
                if let record { _ = try store.schema.requireCollection(record) }
                try InteractiveResolver(store: store, author: try global.resolvedAuthor(), listing: ConflictListing(directory: global.directory),
                                        committed: global.nudgeDaemon)
                    .run(collection: record)
                return
            }
            let ref = try parseRecordRef(record!)
            let collection = try store.schema.requireCollection(ref.collection)
            let key = SlotKey(collection: ref.collection, record: ref.id, field: field!)
            // A field the schema does not know may still hold a peer's
            // conflict (replication-model §8), settled by picking; a name
            // that is neither is a typo, answered with the schema's fields.
            guard let conflict = try store.conflict(at: key) else {
                if field! != SlotKey.existsField { _ = try collection.requireField(field!) }
                throw StoreError.notConflicted(key)
            }
            guard let listed = expect ?? ConflictListing(directory: global.directory).token(for: key) else {
                throw CLIError("list the conflict first (`syncctl conflicts \(ref)`), then pick from what it shows")
            }
            guard listed == conflict.token else { throw StoreError.siblingsChanged(key, current: conflict.siblings) }
            let chosen = try ResolutionChoice.value(for: conflict, pick: pick, typed: value.map(Value.text), schema: collection)
            try store.resolve(key, expecting: conflict.siblings.map(\.dot), value: chosen, author: try global.resolvedAuthor())
            global.nudgeDaemon()
            try global.emit(["resolved": key.description, "value": Display.value(chosen)]) {
                print("resolved \(ref) \(key.field) = \(Display.value(chosen))")
            }
        }
    }
}
