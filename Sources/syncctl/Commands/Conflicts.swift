import ArgumentParser
import SyncCore

struct Conflicts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List conflicted slots with their sibling values, numbered.",
        discussion: "Example: syncctl conflicts agreements")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Limit to a collection or one record.", valueName: "collection[/id]")) var scope: String?

    func run() throws {
        try reportingErrors {
            let store = try global.openStore()
            let parts = scope?.split(separator: "/", maxSplits: 1).map(String.init) ?? []
            let conflicts = try store.conflicts(in: parts.first, record: parts.count > 1 ? parts[1] : nil)
            for conflict in conflicts {
                print("\(conflict.key)")
                for (index, version) in conflict.siblings.enumerated() { print("  \(index + 1). \(Display.version(version))") }
            }
            print("\(conflicts.count) conflict(s)")
        }
    }
}
