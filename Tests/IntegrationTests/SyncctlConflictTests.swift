import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    @Suite struct SyncctlConflicts {
        let root = TemporaryDirectory("syncctl-conflicts")
        let ref = RecordRef(parsing: "agreements/green-minerals-initiative")!

        func twoReplicasInConflict() throws -> (Syncctl, Syncctl) {
            let a = try Syncctl(in: root, name: "a"), b = try Syncctl(in: root, name: "b")
            try makeConflict(a.store(), b.store(), ref, field: "status", values: ("suspended", "expired"))
            return (a, b)
        }

        @Test func conflictsAreListedNumberedAndExitThree() throws {
            let (a, _) = try twoReplicasInConflict()
            let listing = try a.run(["conflicts"])
            #expect(listing.status == 0)
            #expect(listing.stdout.contains("1. ") && listing.stdout.contains("2. ") && listing.stdout.contains("suspended") && listing.stdout.contains("expired"))
            #expect(listing.stdout.contains("by a") && listing.stdout.contains("by b"))
            #expect(try a.run(["conflicts", "--exit-code"]).status == 3)
            let json = try a.run(["conflicts", "agreements", "--json"]).json() as? [[String: Any]] ?? []
            #expect(json.count == 1)
            #expect(json.first?["record"] as? String == ref.description && json.first?["field"] as? String == "status")
            let siblings = json.first?["siblings"] as? [[String: Any]] ?? []
            #expect(siblings.map { $0["number"] as? Int } == [1, 2])
            #expect(Set(siblings.compactMap { ($0["version"] as? [String: Any])?["author"] as? String }) == ["a", "b"])
            #expect(try a.run(["conflicts", "countries", "--exit-code"]).status == 0)
            #expect(try a.run(["get", ref.description]).stdout.contains("!! conflict"))
        }

        /// Two fields no schema here knows, a peer's, each in conflict, whose
        /// names read alike (KELVIN SIGN beside K): `syncctl conflicts` shows
        /// them apart, remembers each listing by its bytes, and `resolve
        /// --pick` settles each; a typed value is refused.
        @Test func lookAlikeUnknownFieldsAreListedApartAndSettledByPicking() throws {
            let a = try Syncctl(in: root, name: "lookalike")
            let names = ["\u{212A}ind", "Kind"]
            do {
                let store = try a.store()
                for name in names {
                    let key = SlotKey(collection: ref.collection, record: ref.id, field: name)
                    let peers = [ReplicaID.random(), ReplicaID.random()]
                    let state = SlotState(versions: peers.enumerated().map { index, peer in
                        Version(dot: Dot(replica: peer, counter: 1), hlc: HLC(millis: 1_000, logical: UInt16(index)), author: "peer", value: .text("\(name) \(index)"))
                    }, context: VersionContext(peers.map { ($0, 1) }))
                    _ = try store.apply([SlotChange(key: key, state: state)], from: peers[0])
                }
            }
            let listing = try a.run(["conflicts"])
            #expect(listing.stdout.contains("\\u{212A}ind") && listing.stdout.contains(" Kind "), "\(listing)")
            let typed = try a.run(["resolve", ref.description, "Kind", "--value", "Kind 9"])
            #expect(typed.status == 1 && typed.stderr.contains("pick one of its 2 versions"), "\(typed)")
            for name in names {
                // The winner (the later stamp) is listed first.
                let run = try a.run(["resolve", ref.description, name, "--pick", "1"])
                #expect(run.status == 0, "\(name.unicodeScalars.map(\.value)): \(run)")
                #expect(try a.store().record(ref)?.scalar(name)?.value == .text("\(name) 1"))
            }
            #expect(try a.run(["conflicts", "--exit-code"]).status == 0)
            #expect(try a.run(["resolve", ref.description, "kinds", "--pick", "1"]).stderr.contains("has no field 'kinds'"))
            // Each field's history, the versions it settled included.
            let history = try a.run(["history", ref.description, names[0]])
            #expect(history.status == 0 && history.stdout.contains("\\u{212A}ind = \u{212A}ind 0"), "\(history)")
            #expect(try a.run(["history", ref.description, "kinds"]).stderr.contains("has no field 'kinds'"))
        }

        @Test func resolveByPickAndByValue() throws {
            let (a, b) = try twoReplicasInConflict()
            #expect(try a.run(["resolve", ref.description, "status", "--pick", "1"]).status == 1, "resolving before listing must be refused")
            let json = try a.run(["conflicts", "--json"]).json() as? [[String: Any]] ?? []
            let second = ((json.first?["siblings"] as? [[String: Any]])?[1]["version"] as? [String: Any])?["value"] as? String
            let run = try a.run(["resolve", ref.description, "status", "--pick", "2"])
            #expect(run.status == 0, "\(run)")
            #expect(try a.store().record(ref)?.value("status") == .text(second!))
            #expect(try a.run(["conflicts", "--exit-code"]).status == 0)

            _ = try b.run(["conflicts"])
            #expect(try b.run(["resolve", ref.description, "status", "--value", "paused"]).status == 1)
            #expect(try b.run(["resolve", ref.description, "status", "--value", "negotiating"]).status == 0)
            #expect(try b.store().record(ref)?.value("status") == .text("negotiating"))
            #expect(try b.run(["resolve", ref.description, "status", "--pick", "1", "--value", "x"]).status == 2)
        }

        @Test func resolveRefusesWhenSiblingsChangedSinceListing() throws {
            let (a, _) = try twoReplicasInConflict()
            _ = try a.run(["conflicts"])
            // A third concurrent version arrives after the analyst looked.
            let c = try Syncctl(in: root, name: "c")
            try c.store().update(ref, [.set("status", .text("proposed"))], author: "c")
            try exchange(a.store(), c.store())
            let before = try a.digest()
            let refused = try a.run(["resolve", ref.description, "status", "--pick", "1"])
            #expect(refused.status == 1 && refused.stderr.contains("changed since they were listed"), "\(refused)")
            #expect(try a.digest() == before)
            _ = try a.run(["conflicts"])
            #expect(try a.run(["resolve", ref.description, "status", "--pick", "3"]).status == 0)
        }

        /// The interactive walk through a pseudo-terminal on one replica; the
        /// daemons then carry the resolution to the other.
        @Test func interactiveResolveThroughAPseudoTerminalReachesEveryReplica() async throws {
            let a = try DaemonProcess("a", in: root), b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            try await a.waitUntilInSync()
            try await a.stop()
            try await b.stop()
            try a.store().update(ref, [.set("status", .text("suspended"))], author: "a")
            try b.store().update(ref, [.set("status", .text("expired"))], author: "b")
            try b.store().update(RecordRef(parsing: "agreements/us-cn-trade-truce-2025")!, [.set("status", .text("expired"))], author: "b")
            try a.store().update(RecordRef(parsing: "agreements/us-cn-trade-truce-2025")!, [.set("status", .text("suspended"))], author: "a")
            for daemon in [a, b] { try await daemon.start() }
            #expect(try await eventually { try a.store().conflictCount() == 2 && b.store().conflictCount() == 2 })

            // First conflict: pick 2; second: type a value.
            let transcript = try runInPseudoTerminal(["resolve", "--interactive", "--data-dir", a.directory.path, "--author", "ana"],
                                                     answers: ["2", "v", "negotiating"])
            #expect(transcript.contains("conflict 1 of 2") && transcript.contains("conflict 2 of 2"), "\(transcript)")
            #expect(transcript.contains("resolved 2, skipped 0, 0 still open"), "\(transcript)")
            #expect(try a.store().conflictCount() == 0)
            #expect(try await eventually { try b.store().conflictCount() == 0 && a.digest() == b.digest() }, "b still has conflicts:\n\(b.log(last: 20))")
            #expect(try b.store().record(RecordRef(parsing: "agreements/us-cn-trade-truce-2025")!)?.value("status") == .text("negotiating"))
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}

/// Runs `syncctl` with a pseudo-terminal as its standard input and output,
/// typing `answers` one line at a time as prompts appear; returns the screen.
func runInPseudoTerminal(_ arguments: [String], answers: [String], timeout: Duration = .seconds(30)) throws -> String {
    var master: Int32 = 0, slave: Int32 = 0
    guard openpty(&master, &slave, nil, nil, nil) == 0 else { throw HarnessError("openpty failed") }
    let process = Process()
    process.executableURL = BuiltProducts.executable("syncctl")
    process.arguments = arguments
    let terminal = FileHandle(fileDescriptor: slave, closeOnDealloc: true)
    process.standardInput = terminal
    process.standardOutput = terminal
    process.standardError = terminal
    try process.run()
    var screen = ""
    var pending = answers[...]
    var prompts = 0
    let deadline = ContinuousClock.now + timeout
    var buffer = [UInt8](repeating: 0, count: 4_096)
    _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
    while ContinuousClock.now < deadline {
        let count = read(master, &buffer, buffer.count)
        if count > 0 {
            screen += String(decoding: buffer[0..<count], as: UTF8.self)
            let seen = screen.components(separatedBy: ": ").count - 1
            if seen > prompts, let answer = pending.popFirst() {
                prompts = seen
                _ = (answer + "\n").withCString { write(master, $0, strlen($0)) }
            }
        } else if !process.isRunning {
            break
        } else {
            usleep(10_000)
        }
    }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    close(master)
    return screen
}
