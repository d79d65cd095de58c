import ArgumentParser
import Foundation
import SyncCore

struct Conflicts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every conflicted slot: its siblings numbered, with value, author, device and time.",
        discussion: """
            Resolve one with `syncctl resolve COLLECTION/ID FIELD --pick N`; the numbers
            refer to this listing, and resolve refuses if the siblings changed since.

            Examples:
              syncctl conflicts
              syncctl conflicts agreements
              syncctl conflicts agreements/green-minerals-initiative --json
              syncctl conflicts --exit-code    # exit 3 when any are open (for scripts)
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("Limit to a collection or one record.", valueName: "collection[/id]")) var scope: String?
    @Flag(help: "Exit with status 3 when any conflict is open.") var exitCode = false

    func run() throws {
        try reportingErrors {
            let store = try global.openStore(readOnly: true)
            let parts = scope?.split(separator: "/", maxSplits: 1).map(String.init) ?? []
            if let collection = parts.first { _ = try store.schema.requireCollection(collection) }
            let conflicts = try store.conflicts(in: parts.first, record: parts.count > 1 ? parts[1] : nil)
            let devices = try store.knownDevices()
            try ConflictListing(directory: global.directory).remember(conflicts)
            let json = conflicts.map { ConflictJSON($0, devices: devices) }
            try global.emit(json) {
                for conflict in conflicts { ConflictDisplay.print(conflict, devices: devices) }
                print(conflicts.isEmpty ? "no conflicts" : "\(conflicts.count) conflict(s); resolve with `syncctl resolve COLLECTION/ID FIELD --pick N` or `syncctl resolve --interactive`")
            }
            if exitCode && !conflicts.isEmpty { throw ExitCode(3) }
        }
    }
}

enum ConflictDisplay {
    static func print(_ conflict: SlotConflict, devices: [ReplicaID: String]) {
        let field = conflict.key.field == SlotKey.existsField ? "_exists (deleted on one side, edited on another)" : Display.name(conflict.key.field)
        Swift.print("\(conflict.key.recordRef) \(field)  [\(conflict.token)]")
        for (index, version) in conflict.siblings.enumerated() {
            let value = conflict.key.field == SlotKey.existsField ? (version.value == .bool(true) ? "keep" : "delete") : Display.value(version.value)
            Swift.print("  \(index + 1). \(Display.clip(value, 40))")
            Swift.print("     by \(version.author) on \(Display.device(version.dot.replica, devices)), \(Display.time(version.hlc.date))")
        }
    }
}

/// The siblings last listed per slot, so `resolve --pick N` acts on what the
/// analyst saw (kept in `listed-conflicts.json` in the data directory).
struct ConflictListing {
    let directory: DataDirectory
    var url: URL { directory.url.appendingPathComponent("listed-conflicts.json") }

    func load() -> [String: String] {
        guard let data = try? Data(contentsOf: url) else { return [:] }
        return (try? JSONDecoder().decode([String: String].self, from: data)) ?? [:]
    }

    func remember(_ conflicts: [SlotConflict]) throws {
        var listed = load()
        for conflict in conflicts { listed[Self.name(conflict.key)] = conflict.token }
        try? JSONEncoder().encode(listed).write(to: url, options: .atomic)
    }

    func token(for key: SlotKey) -> String? { load()[Self.name(key)] }

    /// The slot's four names, length-prefixed as the wire encodes them, in
    /// hex: two keys are one entry only when their bytes are equal (not
    /// when they merely read alike, NFC beside NFD, nor when a dot in a
    /// record id makes `record.field` spell another slot).
    static func name(_ key: SlotKey) -> String {
        var writer = BinaryWriter(capacity: 64)
        SlotStateCodec.encode(key, into: &writer)
        return Hex.encode(writer.bytes)
    }
}
