import ArgumentParser
import SyncCore

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a record: every field, conflicts with all their values.",
        discussion: "Example: syncctl get agreements/us-cn-trade-truce-2025")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The record, as COLLECTION/ID.", valueName: "collection/id")) var record: String

    func run() throws {
        try reportingErrors {
            let ref = try parseRecordRef(record)
            let store = try global.openStore()
            let collection = try store.schema.requireCollection(ref.collection)
            guard let view = try store.record(ref) else { throw StoreError.recordNotFound(ref) }
            print(ref)
            if view.existence.isConflicted {
                print("  !! deleted on one replica, edited on another:")
                for version in view.existence.siblings { print("     \(version.value == .bool(true) ? "keep" : "delete")  \(Display.version(version))") }
            } else if !view.exists {
                print("  (deleted)")
            }
            for field in collection.fields {
                if field.isSet {
                    print("  \(field.name): \(view.presentMembers(field.name).joined(separator: ", "))")
                } else if let reading = view.scalars[field.name], reading.isConflicted {
                    print("  \(field.name): !! conflict")
                    for (index, version) in reading.siblings.enumerated() { print("     \(index + 1). \(Display.version(version))") }
                } else {
                    print("  \(field.name): \(Display.value(view.value(field.name)))")
                }
            }
        }
    }
}
