/// The rules of joining by snapshot (replication-model §4.6), without I/O:
/// when a replica asks a peer for a snapshot instead of pulling every slot,
/// where a third replica starts reading a replica that joined that way, and
/// what a joiner accepts of the chunks it is sent.
public enum JoinRules {
    /// The facts a replica weighs after the hellos.
    public struct Situation: Sendable, Equatable {
        /// The peer speaks protocol 1.5 or later (it understands the messages).
        public var peerUnderstands: Bool
        /// The peer said it will answer our pulls, and we receive from it.
        public var peerSends: Bool
        /// The peer's highest seq, from its hello.
        public var peerHighest: UInt64
        /// Our stored cursor for the peer's replica.
        public var cursor: UInt64
        /// Our own highest seq: what a join would keep aside and merge back in.
        public var ownHighest: UInt64
        /// SQL edits wait in our queue (they were read against our tables).
        public var sqlEditsWaiting: Bool
        /// A snapshot from this peer failed recently (checked and refused).
        public var failedRecently: Bool

        public init(peerUnderstands: Bool, peerSends: Bool, peerHighest: UInt64, cursor: UInt64, ownHighest: UInt64,
                    sqlEditsWaiting: Bool, failedRecently: Bool) {
            self.peerUnderstands = peerUnderstands
            self.peerSends = peerSends
            self.peerHighest = peerHighest
            self.cursor = cursor
            self.ownHighest = ownHighest
            self.sqlEditsWaiting = sqlEditsWaiting
            self.failedRecently = failedRecently
        }
    }

    public enum Decision: Sendable, Equatable {
        case askForSnapshot
        case pull(reason: String)
    }

    /// How many of its own seqs a replica may hold for each seq it is behind
    /// and still ask for a snapshot: merging back what it kept aside must cost
    /// much less than the pull it saves.
    public static let ownSeqsPerBehind: UInt64 = 4

    /// Whether to ask for a snapshot: only when the peer understands and
    /// sends, we are at least `minBehind` seqs behind it (0 turns joining off),
    /// what we hold is small beside that gap (at most a quarter), no SQL edit
    /// waits, and no snapshot from it failed recently.
    public static func decide(_ s: Situation, minBehind: UInt64) -> Decision {
        guard minBehind > 0 else { return .pull(reason: "joining by snapshot is turned off (join.min_behind_seqs: 0)") }
        guard s.peerUnderstands else { return .pull(reason: "the peer is older than protocol 1.5") }
        guard s.peerSends else { return .pull(reason: "the peer does not send to this daemon") }
        let behind = s.peerHighest > s.cursor ? s.peerHighest - s.cursor : 0
        guard behind >= minBehind else { return .pull(reason: "\(behind) seqs behind, under join.min_behind_seqs (\(minBehind))") }
        guard s.ownHighest <= behind / ownSeqsPerBehind else {
            return .pull(reason: "this replica holds \(s.ownHighest) seqs of its own, more than a quarter of the \(behind) it is behind")
        }
        guard !s.sqlEditsWaiting else { return .pull(reason: "SQL edits wait to be taken up here") }
        guard !s.failedRecently else { return .pull(reason: "a snapshot from this peer failed its check recently") }
        return .askForSnapshot
    }

    /// Where we start reading a replica we have no cursor for, when it says
    /// it joined by a snapshot of `origin.replica` at `origin.seq` (S): its
    /// feed up to S is the origin's feed then. Our own replica as the origin:
    /// we hold all of it, start at S. Otherwise our cursor c for the origin,
    /// read while the origin's highest seq was H (`originHighestThen`, as its
    /// batch said), covers that feed up to min(S, c) only if no slot there
    /// moved between the snapshot and our read to a seq we have not read:
    /// so when H ≤ S (nothing was written there since the snapshot when we
    /// read), or c ≥ H (we had read everything there was, so a slot that
    /// moved, we read where it moved to). Else, or H unknown: from 0.
    public static func initialCursor(origin: JoinOrigin, ownReplica: ReplicaID, cursorForOrigin: UInt64, originHighestThen: UInt64?) -> UInt64 {
        if origin.replica == ownReplica { return origin.seq }
        guard let highest = originHighestThen, highest <= origin.seq || cursorForOrigin >= highest else { return 0 }
        return min(origin.seq, cursorForOrigin)
    }

    /// Why a joiner with `free` bytes on its disk cannot take a snapshot of
    /// `snapshotBytes`, or nil when it can: the file received, as much again
    /// while the adoption copies it into the database (its WAL, until the
    /// checkpoint after the join), and a copy of the database as it is
    /// (`ownDatabaseBytes`, file and WAL), kept aside until it is merged back.
    public static func joinerSpaceShortfall(snapshotBytes: UInt64, ownDatabaseBytes: UInt64, free: UInt64) -> String? {
        let (twice, over) = snapshotBytes.multipliedReportingOverflow(by: 2)
        let (needed, overAgain) = twice.addingReportingOverflow(ownDatabaseBytes)
        guard over || overAgain || free < needed else { return nil }
        return "\(snapshotBytes >> 20) MB to receive, as much again to adopt it and \(ownDatabaseBytes >> 20) MB to keep this database aside, but only \(free >> 20) MB free here"
    }

    /// The receiving half of one snapshot transfer: which chunk to ask for
    /// next, and whether a chunk that arrived is the one expected. Pure; the
    /// driver writes the bytes and feeds the hash.
    public struct Receiver: Sendable, Equatable {
        public let chunkBytes: UInt32
        public let maxTotal: UInt64
        /// Bytes received and written, in order.
        public private(set) var received: UInt64 = 0
        /// The file's size, once the first chunk said it.
        public private(set) var total: UInt64?
        /// The next offset to ask for.
        private var asked: UInt64 = 0
        /// Pulls asked for and not yet answered: the chunks still on their
        /// way when the joiner gives up midway, which it reads and drops
        /// before the session, whose first message comes after them.
        public private(set) var inFlight = 0

        public init(chunkBytes: UInt32, maxTotal: UInt64) {
            self.chunkBytes = max(1, chunkBytes)
            self.maxTotal = maxTotal
        }

        public enum Verdict: Sendable, Equatable {
            /// Write the data; then ask for these offsets (none, one).
            case take(askNext: [UInt64])
            /// The file is whole: compare its hash with `sha256`.
            case complete(sha256: [UInt8])
            /// The peer will not send one.
            case refused(String)
            /// The chunk breaks the transfer's rules: a protocol violation.
            case violation(String)
        }

        /// The first pull; once the size is known, two stay asked for, so
        /// the sender reads the next chunk while we write this one.
        public mutating func start() -> [UInt64] {
            asked = UInt64(chunkBytes)
            inFlight = 1
            return [0]
        }

        /// Pulls `take` returned that the driver did not send (it gave up first).
        public mutating func withdraw(_ pulls: [UInt64]) {
            inFlight -= min(inFlight, pulls.count)
        }

        public mutating func take(_ chunk: SnapshotChunk) -> Verdict {
            // Every chunk, a refusal too, answers one pull.
            guard inFlight > 0 else { return .violation("a snapshot chunk nobody asked for") }
            inFlight -= 1
            if !chunk.refusal.isEmpty { return received == 0 ? .refused(chunk.refusal) : .violation("a refusal in the middle of a snapshot") }
            if let total, chunk.total != total { return .violation("the snapshot's size changed from \(total) to \(chunk.total)") }
            if total == nil {
                guard chunk.total > 0 else { return .violation("a snapshot of 0 bytes") }
                guard chunk.total <= maxTotal else {
                    return .refused("the snapshot is \(chunk.total) bytes, over join.max_snapshot_bytes (\(maxTotal))")
                }
                total = chunk.total
            }
            let whole = chunk.total
            guard chunk.offset == received else { return .violation("a chunk at \(chunk.offset), expected \(received)") }
            let expected = min(UInt64(chunkBytes), whole - received)
            guard UInt64(chunk.data.count) == expected else { return .violation("a chunk of \(chunk.data.count) bytes, expected \(expected)") }
            received += expected
            if received == whole {
                guard chunk.sha256.count == 32 else { return .violation("the last chunk carries no checksum") }
                return .complete(sha256: chunk.sha256)
            }
            guard chunk.sha256.isEmpty else { return .violation("a checksum before the last chunk") }
            var next: [UInt64] = []
            while asked < whole, asked - received < 2 * UInt64(chunkBytes) {
                next.append(asked)
                asked += UInt64(chunkBytes)
            }
            inFlight += next.count
            return .take(askNext: next)
        }
    }

    /// The sending half's check of a pull: chunks are asked for in order,
    /// each at the offset after the one asked before, at most one ahead.
    public struct Sender: Sendable, Equatable {
        private var nextOffset: UInt64 = 0
        public private(set) var started = false

        public init() {}

        /// The bytes to send for a pull of a `total`-byte file, or why the pull is refused.
        public mutating func serve(offset: UInt64, maxBytes: UInt32, total: UInt64) -> Result<Range<UInt64>, JoinViolation> {
            guard maxBytes > 0, maxBytes <= UInt32(SyncMessageCodec.maxSnapshotChunkBytes) else {
                return .failure(JoinViolation("a snapshot pull of \(maxBytes) bytes (1 to \(SyncMessageCodec.maxSnapshotChunkBytes))"))
            }
            guard offset == nextOffset, offset < total || (offset == 0 && total == 0) else {
                return .failure(JoinViolation("a snapshot pull at \(offset), expected \(nextOffset) of \(total)"))
            }
            started = true
            let end = min(total, offset + UInt64(maxBytes))
            nextOffset = end
            return .success(offset..<end)
        }
    }

    /// A peer broke the rules of a snapshot transfer.
    public struct JoinViolation: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }
}
