import ArgumentParser
import SyncCore

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a record (or re-create a deleted one) with the given fields.",
        discussion: """
            Fields not given are left empty; required fields must be given.

            Examples:
              syncctl create countries/mn name=Mongolia region=asia
              syncctl create agreements/mn-rare-earths title="Mongolia rare earths MoU" kind=supply parties+=countries/mn
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The record, as COLLECTION/ID.", valueName: "collection/id")) var record: String
    @Argument(help: ArgumentHelp("FIELD=VALUE or SETFIELD+=MEMBER.", valueName: "edits")) var edits: [String] = []

    func run() throws {
        try reportingErrors {
            let ref = try parseRecordRef(record)
            let store = try global.openStore()
            let parsed = try EditArguments.parse(edits, for: try store.schema.requireCollection(ref.collection))
            let receipt = try store.create(ref, parsed, author: try global.resolvedAuthor())
            global.nudgeDaemon()
            print("created \(ref) (\(receipt.slotsWritten) slots written)")
        }
    }
}

struct Set: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Edit fields and set members of a record.",
        discussion: """
            FIELD=VALUE sets a field (FIELD= clears it); SETFIELD+=MEMBER and
            SETFIELD-=MEMBER add and remove set members. All edits are one write.

            Examples:
              syncctl set agreements/us-cn-trade-truce-2025 status=suspended
              syncctl set agreements/green-minerals-initiative parties+=countries/de minerals-=minerals/copper
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The record, as COLLECTION/ID.", valueName: "collection/id")) var record: String
    @Argument(help: ArgumentHelp("FIELD=VALUE, SETFIELD+=MEMBER or SETFIELD-=MEMBER.", valueName: "edits")) var edits: [String]

    func run() throws {
        try reportingErrors {
            let ref = try parseRecordRef(record)
            let store = try global.openStore()
            let parsed = try EditArguments.parse(edits, for: try store.schema.requireCollection(ref.collection))
            let receipt = try store.update(ref, parsed, author: try global.resolvedAuthor())
            global.nudgeDaemon()
            print("updated \(ref) (\(receipt.slotsWritten) slots written)")
        }
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a record (an edit made concurrently elsewhere surfaces as a conflict).",
        discussion: "Example: syncctl delete people/donald-trump")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The record, as COLLECTION/ID.", valueName: "collection/id")) var record: String

    func run() throws {
        try reportingErrors {
            let ref = try parseRecordRef(record)
            try global.openStore().delete(ref, author: try global.resolvedAuthor())
            global.nudgeDaemon()
            print("deleted \(ref)")
        }
    }
}
