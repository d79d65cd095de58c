// Applies numbered batches of remote slot states to a store, announcing each
// batch before and after its transaction, so a test can SIGKILL this process
// in the middle of one and check that nothing was half-applied.
//
// usage: store-crash-helper DB PEER-REPLICA-HEX FIRST-BATCH LAST-BATCH BATCH-SIZE
// prints `begin N` before and `committed N changed C unchanged U` after each batch.
import Foundation
import SyncCore

let arguments = CommandLine.arguments
guard arguments.count == 6, let peer = ReplicaID(hex: arguments[2]), let first = Int(arguments[3]), let last = Int(arguments[4]),
      let size = Int(arguments[5]), first <= last else {
    FileHandle.standardError.write(Data("usage: store-crash-helper DB PEER-REPLICA-HEX FIRST-BATCH LAST-BATCH BATCH-SIZE\n".utf8))
    exit(2)
}
/// Unbuffered, so the test sees each line the moment it is written.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

/// Batch `n` creates records `b<n>-0 … b<n>-(size-1)` (slots `_exists` and
/// `name`): the same bytes every run.
func batch(_ n: Int) -> [SlotChange] {
    (0..<size).flatMap { index -> [SlotChange] in
        let dot = Dot(replica: peer, counter: UInt64(n))
        let hlc = HLC(millis: 1_700_000_000_000 + UInt64(n), logical: 0)
        func state(_ value: Value) -> SlotState {
            SlotMerge.write(Version(dot: dot, hlc: hlc, author: "crash-helper", value: value), over: .empty)
        }
        return [
            SlotChange(key: SlotKey(collection: "countries", record: "b\(n)-\(index)", field: "_exists"), state: state(.bool(true))),
            SlotChange(key: SlotKey(collection: "countries", record: "b\(n)-\(index)", field: "name"), state: state(.text("record \(n)-\(index)"))),
        ]
    }
}

do {
    let store = try Store(path: arguments[1])
    for n in first...last {
        let changes = batch(n)
        say("begin \(n)")
        let report = try store.apply(changes, from: peer, cursor: UInt64(n))
        say("committed \(n) changed \(report.changed) unchanged \(report.unchanged)")
    }
} catch {
    FileHandle.standardError.write(Data("store-crash-helper: \(error)\n".utf8))
    exit(1)
}
