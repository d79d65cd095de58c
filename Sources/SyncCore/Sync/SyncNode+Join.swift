import Crypto
import Foundation
import GRDB
import Logging
import NIOCore
import Synchronization

/// Failures of joins per peer, and the snapshots this daemon served.
final class JoinBook: Sendable {
    /// How long a peer whose snapshot failed (its check, its transfer, its
    /// adoption, or a join cut short by a crash) is pulled from instead.
    static let failureMemorySeconds: TimeInterval = 3_600
    /// How long after a peer said it was busy (another joiner, its hourly limit).
    static let busyMemorySeconds: TimeInterval = 600
    private let state = Mutex((failed: [DeviceID: Date](), served: [Date](), serving: 0, joining: false))

    func failedRecently(_ device: DeviceID, now: Date = Date()) -> Bool {
        state.withLock { $0.failed[device].map { now < $0 } ?? false }
    }

    /// Not asked again before `seconds` have passed.
    func noteFailure(_ device: DeviceID, for seconds: TimeInterval = failureMemorySeconds) {
        state.withLock { $0.failed[device] = Date().addingTimeInterval(seconds) }
    }

    /// One join at a time in this daemon: true when this one may start.
    func startJoining() -> Bool { state.withLock { joining in defer { joining.joining = true }; return !joining.joining } }
    func stopJoining() { state.withLock { $0.joining = false } }

    /// The file a joiner receives into, named after the peer (so a leftover
    /// of a crash says whose snapshot it was).
    static func receivingName(from device: DeviceID) -> String {
        "joining-\(device.bytes.map { String(format: "%02x", $0) }.joined()).\(UUID().uuidString).syncsnap"
    }

    /// The peer a leftover `receivingName` file came from.
    static func device(inLeftover name: String) -> DeviceID? {
        guard name.hasPrefix("joining-") else { return nil }
        let hex = name.dropFirst("joining-".count).prefix { $0 != "." }
        guard hex.count == 64 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return DeviceID(hash: bytes)
    }

    /// Takes a serving slot: one snapshot at a time, `perHour` an hour; nil when granted, else why not.
    func startServing(perHour: Int, now: Date = Date()) -> String? {
        state.withLock { book in
            book.served = book.served.filter { now.timeIntervalSince($0) < 3_600 }
            if book.serving > 0 { return "it is sending a snapshot to another peer now" }
            if book.served.count >= perHour { return "it has sent \(book.served.count) snapshots in the last hour (join.served_per_hour)" }
            book.serving += 1
            book.served.append(now)
            return nil
        }
    }

    func stopServing() { state.withLock { $0.serving -= 1 } }
}

/// Joining by snapshot (replication-model §4.6), between the hellos and the
/// session: the rules are `JoinRules` and `JoinSnapshotCheck`; this drives
/// them over one connection.
extension SyncNode {
    /// Bytes a joiner asks for per chunk.
    static let joinChunkBytes: UInt32 = 4 << 20

    /// Where used snapshot files go to be removed (`Store.removeDatabaseFilesLater`).
    var joinTrash: URL {
        URL(fileURLWithPath: store.path).deletingLastPathComponent().appendingPathComponent(Store.joinTrashFolder)
    }

    /// Whether our hello to `peer` says our first message after the hellos
    /// is a join decision: we take changes from it and joining is on.
    func offersJoinDecision(to peer: PeerConfig) -> Bool {
        configBox.config.join.minBehindSeqs > 0 && peer.mode.receives
    }

    /// The phase between the hellos and the session. Returns true when this
    /// daemon adopted a snapshot: the connection ends, and every session
    /// starts again under the new replica id.
    func runJoinPhase(ours: SyncMessage.Hello, theirs: SyncMessage.Hello, peer: PeerConfig, device: DeviceID,
                      inbound: inout NIOAsyncChannelInboundStream<SyncMessage>.AsyncIterator,
                      outbound: NIOAsyncChannelOutboundWriter<SyncMessage>) async throws -> Bool {
        let sameMajor = theirs.protocolMajor == SyncMessage.protocolMajor
        let weDecide = ours.joinDecisionFollows && sameMajor && theirs.protocolMinor >= 5
        let theyDecide = theirs.joinDecisionFollows && sameMajor
        var weAsk = false
        if weDecide {
            let store = self.store
            let replica = theirs.replica
            let facts = try await Blocking.run { (cursor: try store.cursor(for: replica), own: try store.highestSeq(), sql: try store.hasPendingSQLEdits()) }
            let situation = JoinRules.Situation(peerUnderstands: true, peerSends: theirs.willSend, peerHighest: theirs.highestSeq, cursor: facts.cursor,
                                                ownHighest: facts.own, sqlEditsWaiting: facts.sql, failedRecently: joins.failedRecently(device))
            switch JoinRules.decide(situation, minBehind: UInt64(configBox.config.join.minBehindSeqs)) {
            case .askForSnapshot where !joins.startJoining():
                try await outbound.write(.snapshotEnd(reason: "another join by snapshot is in progress here"))
            case .askForSnapshot:
                weAsk = true
                logger.notice("far behind the peer: asking it for a snapshot instead of pulling every change", metadata: [
                    "peer": "\(peer.name)", "peer_highest_seq": "\(theirs.highestSeq)", "cursor": "\(facts.cursor)"])
            case .pull(let reason):
                try await outbound.write(.snapshotEnd(reason: reason))
                logger.debug("no join snapshot", metadata: ["peer": "\(peer.name)", "reason": "\(reason)"])
            }
        }
        var theyAsk = false
        if theyDecide {
            guard let first = try await inbound.next() else { throw SessionError.closedByPeer("connection closed before its join decision") }
            switch first {
            case .snapshotEnd: break
            case .snapshotPull(let offset, let maxBytes):
                guard !weAsk else { throw SessionError.protocolViolation("both sides asked for a snapshot") }
                theyAsk = true
                try await serveSnapshot(first: (offset, maxBytes), theirs: theirs, peer: peer, device: device, inbound: &inbound, outbound: outbound)
            case .goodbye(let reason): throw SessionError.closedByPeer(SessionError.bounded(reason))
            default: throw SessionError.protocolViolation("expected a join decision after the hellos, got \(first.kind)")
            }
        }
        _ = theyAsk
        guard weAsk else { return false }
        defer { joins.stopJoining() }
        do {
            return try await takeSnapshot(theirs: theirs, peer: peer, device: device, inbound: &inbound, outbound: outbound)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // A transfer cut short (a violation, a timeout, a dropped
            // connection) is a failed join too: the next connection pulls
            // instead of asking the peer for another whole snapshot.
            joins.noteFailure(device)
            throw error
        }
    }

    // MARK: The joiner

    private func takeSnapshot(theirs: SyncMessage.Hello, peer: PeerConfig, device: DeviceID,
                              inbound: inout NIOAsyncChannelInboundStream<SyncMessage>.AsyncIterator,
                              outbound: NIOAsyncChannelOutboundWriter<SyncMessage>) async throws -> Bool {
        let directory = URL(fileURLWithPath: store.path).deletingLastPathComponent()
        let file = directory.appendingPathComponent(JoinBook.receivingName(from: device))
        defer { Store.removeDatabaseFilesLater(file.path, via: joinTrash) }
        let started = ContinuousClock.now
        let environment = ProcessInfo.processInfo.environment
        // Tests only: smaller chunks (within what a peer serves), writes that
        // fail past a byte count, a sync of the file that fails.
        let chunkBytes = environment["SYNCD_TEST_JOIN_CHUNK_BYTES"].flatMap(UInt32.init).map { min(max($0, 1), Self.joinChunkBytes) } ?? Self.joinChunkBytes
        let failWritesPast = environment["SYNCD_TEST_SNAPSHOT_WRITES_FAIL_PAST"].flatMap(UInt64.init)
        let failSync = environment["SYNCD_TEST_SNAPSHOT_SYNC_FAILS"] == "1"
        // The file first: one that cannot be made is refused before the
        // peer takes a snapshot for nothing (our decision is then the end).
        guard FileManager.default.createFile(atPath: file.path, contents: nil), let handle = try? FileHandle(forWritingTo: file) else {
            return try await fallBack("cannot make \(file.path) here (this daemon's disk, not the peer)", peer: peer, device: device, outbound: outbound,
                                      forSeconds: JoinBook.busyMemorySeconds)
        }
        var receiver = JoinRules.Receiver(chunkBytes: chunkBytes, maxTotal: UInt64(configBox.config.join.maxSnapshotBytes))
        for offset in receiver.start() { try await outbound.write(.snapshotPull(offset: offset, maxBytes: chunkBytes)) }
        func write(_ data: [UInt8]) throws {
            if let failWritesPast, receiver.received > failWritesPast { throw CocoaError(.fileWriteOutOfSpace) }
            try handle.write(contentsOf: data)
        }
        var hasher = SHA256()
        var reported = 0
        var lastChunk: ContinuousClock.Instant?
        let expected: [UInt8]
        receiving: while true {
            guard let message = try await inbound.next() else { try? handle.close(); throw SessionError.closedByPeer("connection closed while sending a snapshot") }
            switch message {
            case .ping, .pong:
                do { try Self.requireProgress(asked: started, lastChunk: lastChunk) } catch { try? handle.close(); throw error }
                if case .ping = message { try await outbound.write(.pong) }
            case .goodbye(let reason): try? handle.close(); throw SessionError.closedByPeer(SessionError.bounded(reason))
            case .snapshotChunk(let chunk):
                switch receiver.take(chunk) {
                case .violation(let why): try? handle.close(); throw SessionError.protocolViolation("join snapshot: \(why)")
                case .refused(let why):
                    try? handle.close()
                    return try await fallBack("the peer sends none: \(why)", peer: peer, device: device, outbound: outbound, forSeconds: JoinBook.busyMemorySeconds)
                case .take(let next):
                    if chunk.offset == 0, let free = Self.freeBytes(at: directory.path, countingTrash: joinTrash), let total = receiver.total,
                       let shortfall = JoinRules.joinerSpaceShortfall(snapshotBytes: total, ownDatabaseBytes: Self.databaseBytes(store.path), free: free) {
                        try? handle.close()
                        receiver.withdraw(next)
                        return try await fallBack(shortfall, peer: peer, device: device, outbound: outbound, draining: receiver, inbound: &inbound)
                    }
                    do { try write(chunk.data) } catch {
                        try? handle.close()
                        receiver.withdraw(next)
                        return try await fallBack("cannot write the snapshot here: \(error)", peer: peer, device: device, outbound: outbound,
                                                  draining: receiver, inbound: &inbound)
                    }
                    hasher.update(data: chunk.data)
                    lastChunk = .now
                    for offset in next { try await outbound.write(.snapshotPull(offset: offset, maxBytes: chunkBytes)) }
                    let total = receiver.total ?? 1
                    let tenth = Int(receiver.received * 10 / max(1, total))
                    if tenth > reported {
                        reported = tenth
                        let text = "receiving from \(peer.name): \(receiver.received >> 20) of \(total >> 20) MB"
                        await registry.update(device) { $0.join = text }
                        logger.info("receiving a join snapshot", metadata: ["peer": "\(peer.name)", "received_mb": "\(receiver.received >> 20)", "total_mb": "\(total >> 20)"])
                    }
                case .complete(let sha):
                    do { try write(chunk.data) } catch {
                        try? handle.close()
                        return try await fallBack("cannot write the snapshot here: \(error)", peer: peer, device: device, outbound: outbound)
                    }
                    hasher.update(data: chunk.data)
                    expected = sha
                    break receiving
                }
            default:
                try? handle.close()
                throw SessionError.protocolViolation("expected a snapshot chunk, got \(message.kind)")
            }
        }
        // The file goes to the disk while it is checked (seconds at a
        // million records, which the check need not wait for); the check
        // passes only once it is there. The check and the adoption read the
        // file separately: a write that fails only on its way to the disk (a
        // full thin volume) must refuse the snapshot before anything
        // commits, not hand the adoption bytes the check never saw.
        let syncing = BackgroundWork.fileSync(failSync ? -1 : handle.fileDescriptor)
        do { try handle.close() } catch {
            return try await fallBack("cannot write the snapshot here: \(error)", peer: peer, device: device, outbound: outbound)
        }
        CrashPoint.hit("join.received")
        guard Array(hasher.finalize()) == expected else {
            return try await fallBack("its checksum does not match its bytes (changed on the way)", peer: peer, device: device, outbound: outbound)
        }
        let received = receiver.received
        await registry.update(device) { $0.join = "checking the snapshot from \(peer.name) (\(received >> 20) MB)" }
        logger.info("received a join snapshot; checking every slot while copying it (nothing is kept unless the check passes)", metadata: [
            "peer": "\(peer.name)", "mb": "\(received >> 20)", "seconds": "\(String(format: "%.1f", Double((ContinuousClock.now - started).millis) / 1_000))"])
        // The peer waits meanwhile: pings keep its idle timer quiet.
        let keepalive = Task { [outbound] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                if !Task.isCancelled { try? await outbound.write(.ping) }
            }
        }
        defer { keepalive.cancel() }
        let store = self.store
        let path = file.path
        let limits = store.options.receiveLimits
        let replica = theirs.replica
        // The check runs on threads of its own while the adoption's
        // transaction copies the rows; nothing commits unless it passes.
        let checked: Store.CheckedJoinAdoption
        do {
            checked = try await Blocking.run {
                // The header first: another replica's file, or no store at
                // all, is refused before anything is kept aside or copied.
                try JoinSnapshotCheck.verifyHeader(path: path, expectedReplica: replica, seed: store.seed, limits: limits)
                return try store.adoptJoinSnapshot(at: path, reason: { "joined by a snapshot of replica \(replica.short) at seq \($0.highestSeq)" }) {
                    let facts = try JoinSnapshotCheck.verify(path: path, expectedReplica: replica, seed: store.seed, limits: limits)
                    try syncing.value()
                    return facts
                }
            }
        } catch let refusal as JoinSnapshotRefusal {
            keepalive.cancel()
            return try await fallBack(refusal.reason, peer: peer, device: device, outbound: outbound)
        } catch {
            keepalive.cancel()
            return try await fallBack("cannot adopt it here: \(error)", peer: peer, device: device, outbound: outbound)
        }
        let facts = checked.facts, adoption = checked.adoption
        keepalive.cancel()
        CrashPoint.hit("join.adopted")
        notifier.rebase(to: (try? await Blocking.run { try store.highestSeq() }) ?? facts.highestSeq)
        let seconds = Double((ContinuousClock.now - started).millis) / 1_000
        logger.notice("joined by snapshot: this replica now holds the peer's state and writes under a new replica id; the database as it was is merged back after the next sync", metadata: [
            "peer": "\(peer.name)", "records": "\(facts.records)", "slots": "\(facts.slots)", "seq": "\(facts.highestSeq)",
            "digest": "\(facts.digest.hex.prefix(16))", "replica": "\(adoption.replica)", "previous_replica": "\(adoption.previous)",
            "kept_aside": "\(adoption.keptAside.lastPathComponent)", "mb": "\(received >> 20)", "rows_held_back": "\(checked.rowsMissing)",
            "until_checked_seconds": "\(String(format: "%.1f", Double((checked.checkedAt - started).millis) / 1_000))", "seconds": "\(String(format: "%.1f", seconds))"])
        let text = "joined by snapshot from \(peer.name): \(facts.records) records at seq \(facts.highestSeq) in \(String(format: "%.1f", seconds)) s"
        await registry.update(device) { $0.join = text }
        try? await outbound.write(.goodbye(reason: "joined by snapshot; reconnecting under the new replica id"))
        // Every session was opened under the old id: peers must learn the new one.
        for channel in closers.all() { channel.close(promise: nil) }
        // Seconds of disk writing at a million records: on a thread of its
        // own, not one of the pools the sessions and the store run on.
        Task.detached {
            try? await Task.sleep(for: .seconds(2))
            DispatchQueue.global(qos: .utility).async { store.checkpointAfterJoin() }
        }
        return true
    }

    /// `fallBack` midway through a transfer: then the chunks the peer sends
    /// for the pulls it read before our end are read and dropped, so the
    /// session that follows starts at its first message (else an honest
    /// peer's chunk would read there as a protocol violation, and cost the
    /// connection).
    private func fallBack(_ reason: String, peer: PeerConfig, device: DeviceID, outbound: NIOAsyncChannelOutboundWriter<SyncMessage>,
                          draining receiver: JoinRules.Receiver, inbound: inout NIOAsyncChannelInboundStream<SyncMessage>.AsyncIterator) async throws -> Bool {
        let result = try await fallBack(reason, peer: peer, device: device, outbound: outbound)
        var left = receiver.inFlight
        var lastChunk = ContinuousClock.now
        while left > 0 {
            guard let message = try await inbound.next() else { throw SessionError.closedByPeer("connection closed while sending a snapshot") }
            switch message {
            case .snapshotChunk: left -= 1; lastChunk = .now
            case .ping, .pong:
                try Self.requireProgress(asked: lastChunk, lastChunk: lastChunk)
                if case .ping = message { try await outbound.write(.pong) }
            case .goodbye(let reason): throw SessionError.closedByPeer(SessionError.bounded(reason))
            default: throw SessionError.protocolViolation("expected \(left) more snapshot chunks after ending the join, got \(message.kind)")
            }
        }
        return result
    }

    /// Once a transfer has begun, how long a joiner that is sent pings
    /// but no chunk waits: an honest peer sends each chunk as soon as it is
    /// asked (it read the file already) and no longer pings then; its
    /// pings, which keep the idle timeout quiet while it takes the snapshot,
    /// must not keep a transfer that stalled alive (a slow link that sends
    /// nothing is cut by the frame deadline instead).
    static let joinChunkSilenceSeconds: Int64 = 120
    /// How long a joiner that is sent pings waits for the first chunk: the
    /// peer takes its snapshot meanwhile (seconds at a million records).
    static let joinFirstChunkSeconds: Int64 = 1_800

    /// Throws a violation when a ping or pong comes `joinFirstChunkSeconds`
    /// after the first pull (`asked`) with no chunk yet, or
    /// `joinChunkSilenceSeconds` after the last chunk.
    static func requireProgress(asked: ContinuousClock.Instant, lastChunk: ContinuousClock.Instant?) throws {
        if let lastChunk {
            guard ContinuousClock.now - lastChunk <= .seconds(joinChunkSilenceSeconds) else {
                throw SessionError.protocolViolation("pings but no snapshot chunk for \(joinChunkSilenceSeconds) s in the middle of a transfer")
            }
        } else {
            guard ContinuousClock.now - asked <= .seconds(joinFirstChunkSeconds) else {
                throw SessionError.protocolViolation("pings but no snapshot chunk for \(joinFirstChunkSeconds) s after asking for one")
            }
        }
    }

    /// Refuses the snapshot, tells the peer, and goes on with the ordinary pull.
    private func fallBack(_ reason: String, peer: PeerConfig, device: DeviceID, outbound: NIOAsyncChannelOutboundWriter<SyncMessage>,
                          forSeconds seconds: TimeInterval = JoinBook.failureMemorySeconds) async throws -> Bool {
        joins.noteFailure(device, for: seconds)
        logger.warning("refused the join snapshot; pulling every change instead", metadata: ["peer": "\(peer.name)", "reason": "\(reason)"])
        await registry.update(device) { $0.join = "snapshot refused, pulling instead: \(reason)" }
        try await outbound.write(.snapshotEnd(reason: "snapshot refused: \(String(reason.prefix(900)))"))
        return false
    }

    // MARK: The peer that sends one

    private func serveSnapshot(first: (offset: UInt64, maxBytes: UInt32), theirs: SyncMessage.Hello, peer: PeerConfig, device: DeviceID,
                               inbound: inout NIOAsyncChannelInboundStream<SyncMessage>.AsyncIterator,
                               outbound: NIOAsyncChannelOutboundWriter<SyncMessage>) async throws {
        var refusal: String?
        if !(peer.mode.sends && theirs.willReceive) { refusal = "this daemon does not send to the joiner" }
        if refusal == nil, theirs.protocolMinor < SyncMessage.hashlessRowsMinor {
            refusal = "this daemon's database is storage format \(StoreTables.formatVersion), which a daemon of protocol 1.\(theirs.protocolMinor) cannot read: upgrade it to join by snapshot"
        }
        let databasePath = self.store.path
        let databaseBytes = Self.databaseBytes(databasePath)
        if refusal == nil, let free = Self.freeBytes(at: URL(fileURLWithPath: databasePath).deletingLastPathComponent().path, countingTrash: joinTrash),
           free < databaseBytes {
            refusal = "it has \(free >> 20) MB free, less than its database (\(databaseBytes >> 20) MB) to copy"
        }
        if refusal == nil, let busy = joins.startServing(perHour: configBox.config.join.servedPerHour) { refusal = busy }
        if let refusal {
            logger.info("refused to send a join snapshot", metadata: ["peer": "\(peer.name)", "reason": "\(refusal)"])
            try await outbound.write(.snapshotChunk(.refused(refusal)))
            try await awaitEnd(&inbound, outbound: outbound, allowingPulls: true)
            return
        }
        defer { joins.stopServing() }
        let directory = URL(fileURLWithPath: store.path).deletingLastPathComponent().appendingPathComponent("join-snapshots")
        let file = directory.appendingPathComponent("\(UUID().uuidString).syncsnap")
        defer { Store.removeDatabaseFilesLater(file.path, via: joinTrash) }
        let store = self.store
        let started = ContinuousClock.now
        await registry.update(device) { $0.join = "taking a snapshot for \(peer.name)" }
        logger.notice("the peer is far behind: taking a snapshot for it to join by", metadata: ["peer": "\(peer.name)", "joiner_highest_seq": "\(theirs.highestSeq)"])
        let keepalive = Task { [outbound] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                if !Task.isCancelled { try? await outbound.write(.ping) }
            }
        }
        let total: UInt64
        let taken: Double
        do {
            total = try await Blocking.run { try store.takeJoinSnapshot(to: file) }
            keepalive.cancel()
            taken = Double((ContinuousClock.now - started).millis) / 1_000
        } catch {
            keepalive.cancel()
            logger.warning("could not take a snapshot for a joining peer; it pulls instead", metadata: ["peer": "\(peer.name)", "error": "\(error)"])
            try await outbound.write(.snapshotChunk(.refused("the peer could not take a snapshot: \(String("\(error)".prefix(300)))")))
            try await awaitEnd(&inbound, outbound: outbound, allowingPulls: true)
            return
        }
        guard let handle = try? FileHandle(forReadingFrom: file) else {
            try await outbound.write(.snapshotChunk(.refused("the peer could not read its snapshot")))
            try await awaitEnd(&inbound, outbound: outbound, allowingPulls: true)
            return
        }
        defer { try? handle.close() }
        let flip = ProcessInfo.processInfo.environment["SYNCD_TEST_FLIP_SNAPSHOT_BYTE"].flatMap(UInt64.init)
        var sender = JoinRules.Sender()
        var hasher = SHA256()
        var pull: (offset: UInt64, maxBytes: UInt32)? = first
        while true {
            if let (offset, maxBytes) = pull {
                pull = nil
                let range: Range<UInt64>
                switch sender.serve(offset: offset, maxBytes: maxBytes, total: total) {
                case .success(let served): range = served
                case .failure(let violation): throw SessionError.protocolViolation("join snapshot: \(violation)")
                }
                try handle.seek(toOffset: range.lowerBound)
                var data = [UInt8](try handle.read(upToCount: Int(range.count)) ?? Data())
                guard data.count == range.count else { throw SessionError.refused("the snapshot file for the joiner shrank while it was sent") }
                hasher.update(data: data)
                // Tests only: one byte changed on the way, after the checksum saw it.
                if let flip, range.contains(flip) { data[Int(flip - range.lowerBound)] ^= 0x01 }
                let last = range.upperBound == total
                try await outbound.write(.snapshotChunk(SnapshotChunk(offset: range.lowerBound, total: total, data: data,
                                                                      sha256: last ? Array(hasher.finalize()) : [])))
                if last {
                    let seconds = Double((ContinuousClock.now - started).millis) / 1_000
                    logger.info("sent a join snapshot", metadata: ["peer": "\(peer.name)", "mb": "\(total >> 20)", "seconds": "\(String(format: "%.1f", seconds))",
                                                                  "snapshot_seconds": "\(String(format: "%.1f", taken))"])
                    let text = "sent a snapshot to \(peer.name): \(total >> 20) MB in \(String(format: "%.1f", seconds)) s"
                    await registry.update(device) { $0.join = text }
                }
            }
            guard let message = try await inbound.next() else { throw SessionError.closedByPeer("connection closed while taking a snapshot") }
            switch message {
            case .snapshotPull(let offset, let maxBytes): pull = (offset, maxBytes)
            case .snapshotEnd(let reason):
                if !reason.isEmpty { logger.info("the joiner ended the snapshot", metadata: ["peer": "\(peer.name)", "reason": "\(reason)"]) }
                return
            case .ping: try await outbound.write(.pong)
            case .pong: continue
            case .goodbye(let reason): throw SessionError.closedByPeer(SessionError.bounded(reason))
            default: throw SessionError.protocolViolation("expected a snapshot pull, got \(message.kind)")
            }
        }
    }

    /// After a refusal: the joiner's end (pulls it sent before the refusal
    /// reached it are read and dropped).
    private func awaitEnd(_ inbound: inout NIOAsyncChannelInboundStream<SyncMessage>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<SyncMessage>,
                          allowingPulls: Bool) async throws {
        var pulls = 0
        while let message = try await inbound.next() {
            switch message {
            case .snapshotEnd: return
            case .snapshotPull where allowingPulls && pulls < 4: pulls += 1
            case .ping: try await outbound.write(.pong)
            case .pong: continue
            case .goodbye(let reason): throw SessionError.closedByPeer(SessionError.bounded(reason))
            default: throw SessionError.protocolViolation("expected the end of the join decision, got \(message.kind)")
            }
        }
        throw SessionError.closedByPeer("connection closed before the end of the join decision")
    }

    /// The bytes of the database at `path` and its WAL: what a copy of it takes.
    static func databaseBytes(_ path: String) -> UInt64 {
        ["", "-wal"].reduce(UInt64(0)) { $0 + UInt64((try? FileManager.default.attributesOfItem(atPath: path + $1)[.size] as? Int) ?? 0) }
    }

    /// `FreeSpace.bytes(at:countingTrash:)`.
    static func freeBytes(at path: String, countingTrash trash: URL) -> UInt64? { FreeSpace.bytes(at: path, countingTrash: trash) }
}
