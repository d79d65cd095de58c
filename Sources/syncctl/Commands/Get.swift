import ArgumentParser
import SyncCore

struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a record: every field, conflicts marked with all their values.",
        discussion: """
            Examples:
              syncctl get agreements/us-cn-trade-truce-2025
              syncctl get countries/cn --json
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The record, as COLLECTION/ID.", valueName: "collection/id")) var record: String

    func run() throws {
        try reportingErrors {
            let ref = try parseRecordRef(record)
            let store = try global.openStore(readOnly: true)
            let collection = try store.schema.requireCollection(ref.collection)
            guard let view = try store.record(ref) else { throw StoreError.recordNotFound(ref) }
            let devices = try store.knownDevices()
            try global.emit(RecordJSON(view, schema: collection, devices: devices)) {
                print(ref)
                if view.existence.isConflicted {
                    print("  !! deleted on one replica, edited on another (`syncctl resolve \(ref) _exists --pick N`):")
                    for (index, version) in view.existence.siblings.enumerated() {
                        print("     \(index + 1). \(version.value == .bool(true) ? "keep" : "delete")  by \(version.author) on \(Display.device(version.dot.replica, devices))")
                    }
                } else if !view.exists {
                    print("  (deleted)")
                }
                let width = max(8, collection.fields.map(\.name.count).max() ?? 8)
                for field in collection.fields {
                    let label = field.name.padding(toLength: width, withPad: " ", startingAt: 0)
                    if field.isSet {
                        print("  \(label)  \(view.presentMembers(field.name).joined(separator: ", "))")
                    } else if let reading = view.scalar(field.name), reading.isConflicted {
                        print("  \(label)  !! conflict:")
                        for (index, version) in reading.siblings.enumerated() {
                            print("     \(index + 1). \(Display.clip(Display.value(version.value), 40))  by \(version.author) on \(Display.device(version.dot.replica, devices))")
                        }
                    } else {
                        print("  \(label)  \(Display.value(view.value(field.name)))")
                    }
                }
            }
        }
    }
}
