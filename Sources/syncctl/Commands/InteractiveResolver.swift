import Foundation
import SyncCore

/// `syncctl resolve --interactive`: one conflict at a time, read from stdin.
struct InteractiveResolver {
    let store: Store
    let author: String
    let listing: ConflictListing
    /// Called after each resolution is committed (tells the daemon to ship it).
    var committed: () -> Void = {}

    func run(collection: String?) throws {
        let conflicts = try store.conflicts(in: collection)
        guard !conflicts.isEmpty else {
            print("no conflicts")
            return
        }
        let devices = try store.knownDevices()
        var resolved = 0, skipped = 0
        loop: for (index, listed) in conflicts.enumerated() {
            // Re-read: an earlier answer (or a sync) may have changed it.
            guard let conflict = try store.conflict(at: listed.key) else { continue }
            let schema = try store.schema.requireCollection(conflict.key.collection)
            print("\nconflict \(index + 1) of \(conflicts.count)")
            ConflictDisplay.print(conflict, devices: devices)
            while true {
                print("pick 1-\(conflict.siblings.count), (v)alue, (s)kip, (q)uit: ", terminator: "")
                fflush(nil)
                guard let answer = readLine()?.trimmingCharacters(in: .whitespaces) else { break loop }
                var chosen: Value?
                switch answer.lowercased() {
                case "q", "quit": break loop
                case "s", "skip", "":
                    skipped += 1
                    continue loop
                case "v", "value":
                    print("value: ", terminator: "")
                    fflush(nil)
                    guard let typed = readLine() else { break loop }
                    do { chosen = try ResolutionChoice.value(for: conflict, pick: nil, typed: .text(typed), schema: schema) } catch {
                        print("  \(error)")
                        continue
                    }
                default:
                    guard let number = Int(answer) else {
                        print("  answer with a number, v, s or q")
                        continue
                    }
                    do { chosen = try ResolutionChoice.value(for: conflict, pick: number, typed: nil, schema: schema) } catch {
                        print("  \(error)")
                        continue
                    }
                }
                do {
                    try store.resolve(conflict.key, expecting: conflict.siblings.map(\.dot), value: chosen!, author: author)
                    committed()
                    print("  resolved: \(conflict.key.field) = \(Display.value(chosen!))")
                    resolved += 1
                    continue loop
                } catch {
                    print("  not resolved: \(error)")
                    continue loop
                }
            }
        }
        print("\nresolved \(resolved), skipped \(skipped), \(try store.conflictCount()) still open")
    }
}
