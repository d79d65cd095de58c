// libFuzzer target: `Store.apply` of the batches a peer sends.
//
// The input is a byte stream as it arrives on a connection: frames (4-byte
// big-endian length, then a `SyncMessageCodec` payload) cut by the real
// `FrameDecoder`. Every `batch` and `repairBatch` among the decoded messages
// is applied in order to a scratch store, as coming from the peer
// `peerReplica`; other messages are skipped. Before each input the store is
// emptied (every table's rows deleted, counter and clock zeroed, its replica
// id set to `ownReplica`), so an input's outcome depends on it alone and a
// crash file reproduces on its own. The SQLite file is removed and created
// anew every `recreateEvery` inputs.
//
// Invariants (a violation traps, which libFuzzer reports as a crash):
//  - apply never traps; it may throw (refuse the batch), and then nothing of
//    the batch is visible: every slot it names and the digest are unchanged;
//  - when it does not throw: each named slot now holds exactly (byte for
//    byte) the fold of `SlotMerge.merge` of its previous state with the
//    batch's copies of it, in order; each satisfies
//    `SlotState.satisfiesInvariant`; changed + unchanged = the batch's size,
//    and a batch that changed nothing leaves the digest as it was;
//  - the store stays readable and consistent: the change feed yields every
//    slot once (by key bytes), each satisfying the invariant; the digest
//    equals the digest recomputed from those slots (SHA-256 of key and state
//    encodings, FNV-1a bucket of the key); `integrityReport()` does not throw.
//
// An apply that throws something other than `StoreError.batchRefused` is
// reported on stderr (once per message), and is fatal with FUZZ_STRICT=1.
//
// Built with `-sanitize=fuzzer -DFUZZING` this is a libFuzzer binary; built
// without (plain `swift build`) it replays the files and directories given
// as arguments through the same checks.

import Crypto
import Foundation
import GRDB
import NIOCore
import NIOEmbedded
import FuzzSupport
import SyncCore

/// The scratch store's own replica id (seeds use it to send our own dots back).
let ownReplica = ReplicaID(high: 0, low: 1)
/// The peer every batch comes from.
let peerReplica = ReplicaID(high: 0, low: 2)
/// The scratch store's wall clock (2026-01-01T00:00:00Z): fixed, so "future"
/// versions are the same on every run.
let wallMillis: UInt64 = 1_767_225_600_000
let recreateEvery = 5_000
let strict = ProcessInfo.processInfo.environment["FUZZ_STRICT"] == "1"
let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] == "1"

final class Scratch {
    let directory: URL
    var store: Store!
    var inputs = 0
    var reportedErrors = Set<String>()

    init() {
        FuzzDriver.removeStaleScratch(prefix: "fuzz-apply")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-apply-\(getpid())-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = Self.open(directory)
        atexit { if let scratch = scratchStore { try? FileManager.default.removeItem(at: scratch.directory) } }
    }

    static func open(_ directory: URL) -> Store {
        var options = Store.Options()
        options.wallClock = { wallMillis }
        do {
            return try Store(path: directory.appendingPathComponent("data.db").path, options: options)
        } catch {
            fatalError("fuzz-apply: cannot create the scratch store: \(error)")
        }
    }

    /// Back to an empty store with our fixed replica id.
    func reset() {
        inputs += 1
        if inputs % recreateEvery == 0 {
            store = nil  // closes the database before its files go
            for name in ["data.db", "data.db-wal", "data.db-shm"] {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
            }
            store = Self.open(directory)
        }
        do {
            try store.withWriteTransaction { db in
                let tables = try String.fetchAll(db, sql: """
                    SELECT name FROM sqlite_master WHERE type = 'table'
                    AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'grdb\\_%' ESCAPE '\\' AND name != 'sync_meta'
                    """)
                for table in tables { try db.execute(sql: "DELETE FROM \(table.quotedDatabaseIdentifier)") }
                try db.execute(sql: "UPDATE sync_meta SET value = ? WHERE key = 'replica_id'", arguments: [ownReplica.data])
                try db.execute(sql: "UPDATE sync_meta SET value = 0 WHERE key IN ('counter', 'hlc')")
            }
        } catch {
            fatalError("fuzz-apply: cannot reset the scratch store: \(error)")
        }
    }
}

nonisolated(unsafe) var scratchStore: Scratch?

func fuzzOne(_ input: [UInt8]) {
    let scratch = scratchStore ?? Scratch()
    scratchStore = scratch
    scratch.reset()
    let store: Store = scratch.store
    let messages = frames(input)
    if verbose { print("frames: \(messages.map(\.kind))") }
    var numbering = KnowledgeNumbering()
    for message in messages {
        let changes: [SlotChange]
        var cursor: UInt64?
        var highest: UInt64?
        var claims: [KnowledgeEntry]?
        switch message {
        case .batch(let batch): changes = batch.changes; cursor = batch.cursor; highest = batch.highestSeq
            // Resolved as a session does (numbered per stream); learned from
            // only when the batch ends at the highest seq read with it.
            let entries = numbering.entries(batch.knowledge)
            if let entries, !batch.hasMore, batch.cursor == batch.highestSeq { claims = entries }
        case .repairBatch(let list, _): changes = list
        default: continue
        }
        applyChecked(changes, cursor: cursor, highest: highest, claims: claims, store: store, scratch: scratch, input: input)
    }
    checkWholeStore(store, input: input)
}

/// The messages of a stream, as the connection's decoder yields them (up to the first error).
func frames(_ bytes: [UInt8]) -> [SyncMessage] {
    let channel = EmbeddedChannel()
    var messages: [SyncMessage] = []
    try! channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameBytes: 1 << 20, now: { NIODeadline.uptimeNanoseconds(0) })))
    do {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    } catch {}
    while let message = try? channel.readInbound(as: SyncMessage.self) { messages.append(message) }
    _ = try? channel.finish(acceptAlreadyClosed: true)
    return messages
}

/// A slot's identity: its key's canonical encoding (names by UTF-8 bytes).
func keyBytes(_ key: SlotKey) -> [UInt8] { StoreChecks.keyBytes(key) }

func applyChecked(_ changes: [SlotChange], cursor: UInt64?, highest: UInt64? = nil, claims: [KnowledgeEntry]? = nil, store: Store, scratch: Scratch,
                  input: [UInt8]) {
    // The slots the batch names, by key bytes, in first-appearance order.
    var order: [[UInt8]] = []
    var keys: [[UInt8]: SlotKey] = [:]
    var incoming: [[UInt8]: [SlotState]] = [:]
    for change in changes {
        let bytes = keyBytes(change.key)
        if keys[bytes] == nil { order.append(bytes); keys[bytes] = change.key }
        incoming[bytes, default: []].append(change.state)
    }
    let before: [[UInt8]: SlotState]
    let digestBefore: StateDigest
    do {
        before = try Dictionary(uniqueKeysWithValues: order.map { ($0, try store.slotState(keys[$0]!)) })
        digestBefore = try store.digest()
    } catch {
        fail("cannot read the store before apply: \(error)", input)
    }
    let report: ApplyReport
    do {
        report = try store.apply(changes, from: peerReplica, cursor: cursor, peerHighest: highest, claims: claims)
        if verbose { print("batch of \(changes.count): \(report)") }
    } catch {
        if verbose { print("batch of \(changes.count): threw \(String(describing: error).prefix(200))") }
        if let storeError = error as? StoreError, case .batchRefused = storeError {} else {
            let text = "\(error)"
            if strict { fail("apply threw something other than a refusal: \(text)", input) }
            if scratch.reportedErrors.insert(String(text.prefix(80))).inserted {
                FileHandle.standardError.write(Data("fuzz-apply: note: apply threw \(text.prefix(300)) (input \(hex(input)))\n".utf8))
            }
        }
        // Refused: nothing of it may be visible.
        for bytes in order {
            let now = readSlot(store, keys[bytes]!, input)
            require(SlotStateCodec.encode(now) == SlotStateCodec.encode(before[bytes]!),
                    "apply threw (\(error)) but slot \(keys[bytes]!) changed", input)
        }
        require((try? store.digest()) == digestBefore, "apply threw (\(error)) but the digest changed", input)
        return
    }
    require(report.changed + report.unchanged == changes.count,
            "report counts \(report.changed) changed + \(report.unchanged) unchanged for a batch of \(changes.count)", input)
    for bytes in order {
        let key = keys[bytes]!
        var expected = before[bytes]!
        for state in incoming[bytes]! { expected = SlotMerge.merge(expected, state) }
        let now = readSlot(store, key, input)
        require(now.satisfiesInvariant, "stored state of \(key) breaks the invariant: \(now)", input)
        require(SlotStateCodec.encode(now) == SlotStateCodec.encode(expected),
                "stored state of \(key) is not the merge of what it held and the batch:\n  stored   \(now)\n  expected \(expected)", input)
    }
    if report.changed == 0 {
        require((try? store.digest()) == digestBefore, "a batch that changed nothing changed the digest", input)
    }
}

func readSlot(_ store: Store, _ key: SlotKey, _ input: [UInt8]) -> SlotState {
    do { return try store.slotState(key) } catch { fail("slot \(key) cannot be read back: \(error)", input) }
}

/// Every slot once, valid, and the digest they add up to.
func checkWholeStore(_ store: Store, input: [UInt8]) {
    do {
        if let problem = try StoreChecks.feedAndDigestProblem(store) { fail(problem, input) }
    } catch {
        fail("the store cannot be read: \(error)", input)
    }
    do { _ = try store.integrityReport() } catch { fail("integrityReport() throws: \(error)", input) }
}

// MARK: - reporting

func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, _ input: [UInt8]) {
    if !condition() { fail(message(), input) }
}


func fail(_ message: String, _ input: [UInt8]) -> Never {
    FuzzDriver.fail("fuzz-apply", String(message.prefix(2_000)), input)
}

func hex(_ bytes: [UInt8]) -> String { FuzzDriver.hex(bytes) }

@main
enum FuzzMain {
    static func main() { FuzzDriver.run(fuzzOne) }
}
