import Foundation
import GRDB

/// A slot and its full state, as it travels between replicas.
public struct SlotChange: Hashable, Sendable {
    public let key: SlotKey
    public let state: SlotState
    /// Where the sender's feed had this state (protocol 1.6, replication-model
    /// §4.7); nil from an older peer, a repair, or a local read.
    public var origin: FeedOrigin?

    public init(key: SlotKey, state: SlotState, origin: FeedOrigin? = nil) {
        self.key = key
        self.state = state
        self.origin = origin
    }
}

/// What merging a batch of remote states did.
public struct ApplyReport: Hashable, Sendable {
    /// Slots whose state changed (each stamped a new seq).
    public var changed = 0
    /// Slots the batch already agreed with: no seq stamped, nothing written.
    public var unchanged = 0
    /// Versions dated further in the future than the drift cap (stored, reported).
    public var futureVersions = 0
    /// Slots stored although they fail the local schema (reported by `check`).
    public var schemaProblems = 0
    /// Dots that the batch and this replica hold with different content
    /// (a reused replica id): merged deterministically and recorded.
    public var dotCollisions = 0
    /// A repair batch changed slots here, so every claim of `sync_knowledge`
    /// was dropped in the same transaction (replication-model §4.7).
    public var forgotKnowledge = false
    /// Set when the batch carried our own replica id with a counter we never
    /// issued: the store took this new replica id in the same transaction.
    public var renewedReplica: ReplicaID?
    /// The id it replaced (retired in the counter mark once committed).
    public var retiredReplica: ReplicaID?
    /// Rows of received records that a constraint of the analyst's refused
    /// (their slots are stored; `viewDrift` lists the rows).
    public var refusedRows = RefusedRows()
}

extension Store {
    /// Merges a batch of remote slot states and stores `(peer, cursor)` in the same
    /// transaction, so a crash mid-batch loses nothing and applies nothing twice.
    ///
    /// States are never dropped for failing the local schema: they are stored and
    /// listed in `sync_schema_problems`. Cost: O(batch), independent of dataset size.
    ///
    /// - Parameters:
    ///   - peer: the replica that sent the batch; slots whose merged state equals
    ///     what it sent are not sent back to it. Nil for seed data and snapshots.
    ///   - cursor: the peer's seq up to which this batch brings us; stored with it.
    ///
    /// A batch that breaks `ReceiveLimits` (a counter the store cannot hold,
    /// a NUL in a slot's name, an oversized value) is refused whole with
    /// `StoreError.batchRefused`, before anything is written.
    @discardableResult
    ///   - device: the device the session proved (given by sessions): the
    ///     batch is refused if `peer` is no longer bound to it (a proven owner
    ///     took the id back, replication-model §3.3), so a squatter's session
    ///     cannot set the owner's cursor or echo marks after that.
    ///
    /// - Parameter peerHighest: the peer's highest seq as the batch carrying
    ///   `cursor` said; kept with the cursor when the cursor moves (for where
    ///   to start reading a replica that joined by the peer's snapshot,
    ///   `JoinRules.initialCursor`). Nil: not known.
    ///
    /// - Parameter claims: the peer's knowledge, sent with a batch that
    ///   reached its highest seq (protocol 1.6, maybe none): given only for
    ///   such a batch of a 1.6 peer; then what it teaches is kept
    ///   (`GossipRules.learned`, replication-model §4.7). Nil: learn nothing.
    /// - Parameter repair: a repair batch; if it changes a slot, every claim
    ///   in `sync_knowledge` is dropped in the same transaction (one of them
    ///   may have been false).
    public func apply(_ changes: [SlotChange], from peer: ReplicaID?, device: String? = nil, cursor: UInt64? = nil,
                      peerHighest: UInt64? = nil, claims: [KnowledgeEntry]? = nil, repair: Bool = false) throws -> ApplyReport {
        let limits = options.receiveLimits
        if let refusal = ReceivedStateCheck.refusal(for: changes, limits: limits) {
            throw StoreError.batchRefused(refusal)
        }
        if let cursor, cursor > ReceiveLimits.maxCounter {
            throw StoreError.batchRefused(BatchRefusal(slot: SlotKey(collection: "", record: "", field: ""), reason: "cursor \(cursor) above 2^63-1"))
        }
        let wall = options.wallClock()
        let maxDrift = options.maxClockDriftMillis
        let report = try pool.write { db -> ApplyReport in
            if let peer, let device,
               let bound = try String.fetchOne(db, sql: "SELECT device FROM sync_peer_devices WHERE replica = ?", arguments: [peer.data]),
               !bound.utf8.elementsEqual(device.utf8) {
                throw StoreError.bindingMoved(replica: peer, device: bound)
            }
            let writer = try SlotWriter(db: db, store: self)
            var report = ApplyReport()
            // Our own replica id with a counter we never issued: someone else
            // writes under it (a copied database, a hostile peer). Take a new
            // id now, so no dot we issue later can collide with theirs
            // (replication-model §3.3).
            let storedReplica = try db.replicaID()
            let storedCounter = UInt64(Int64.fromDatabaseValue(try db.meta(MetaKey.counter)) ?? 0)
            let claimed = ReceivedStateCheck.highestCounter(of: storedReplica, in: changes)
            if claimed > storedCounter {
                // One such renewal per interval: each costs every peer a pull
                // of our whole feed, and a hostile peer learns the new id at
                // once. Evidence inside the interval refuses its batch
                // (nothing stored, the feed waits), so no dot of ours collides.
                let last = UInt64(Int64.fromDatabaseValue(try db.meta(MetaKey.ownIdRenewedAt)) ?? 0)
                let interval = options.ownIdRenewalIntervalMillis
                if last > 0, wall < last &+ interval, wall >= last {
                    let slot = changes.first { ReceivedStateCheck.highestCounter(of: storedReplica, in: [$0]) > storedCounter }?.key
                        ?? SlotKey(collection: "", record: "", field: "")
                    throw StoreError.batchRefused(BatchRefusal(slot: slot, reason: "carries our replica id \(storedReplica) with counter \(claimed) above ours (\(storedCounter)), \((wall - last) / 1_000) s after the last new id taken for the same reason (at most one per \(interval / 1_000) s); refused until then"))
                }
                try db.setMeta(MetaKey.ownIdRenewedAt, Int64(wall))
                report.retiredReplica = storedReplica
                report.renewedReplica = try Self.startNewReplica(
                    reason: "replica \(storedReplica) came back from \(peer.map { "peer \($0)" } ?? "a batch") with counter \(claimed) above ours (\(storedCounter)): another database issues dots under it",
                    device: String.fromDatabaseValue(try db.meta(MetaKey.device)), at: wall, random: options.random, in: db)
            }
            var clock = HybridClock(last: HLC(raw: UInt64(bitPattern: Int64.fromDatabaseValue(try db.meta(MetaKey.hlc)) ?? 0)),
                                    maxDriftMillis: maxDrift)
            var maxAhead: UInt64 = 0
            var lastFuture = HLC.zero
            var highestReceived: HLC?
            // Read every local state first, merge and encode them on all
            // cores, then store them in order on this thread.
            var locals: [(state: SlotState, encoded: ArraySlice<UInt8>?)] = []
            locals.reserveCapacity(changes.count)
            for change in changes { locals.append(try writer.loadEncoded(change.key)) }
            let outcomes = BatchMerge.merge(changes, locals: locals.map(\.state), schema: writer.schema)
            var scratch = BinaryWriter(capacity: 512)
            for (index, change) in changes.enumerated() {
                var outcome = outcomes[index]
                // A slot that comes twice in one batch: the later copy is merged
                // with what the earlier one stored, not with what was read
                // (told apart by the stored bytes).
                let current = try writer.loadEncoded(change.key)
                if !Self.sameBytes(current.encoded, locals[index].encoded) {
                    outcome = BatchMerge.merge(change, local: current.state, schema: writer.schema, scratch: &scratch)
                }
                for dot in SlotMerge.collidingDots(current.state, change.state) {
                    report.dotCollisions += 1
                    try db.cachedStatement(sql: """
                        INSERT INTO sync_dot_collisions(collection, record, field, element, replica, counter, peer, seen_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT DO UPDATE SET peer = excluded.peer, seen_at = excluded.seen_at
                        """).execute(arguments: [change.key.collection, change.key.record, change.key.field, change.key.element,
                                                 dot.replica.data, Int64(dot.counter), peer?.data, Int64(wall)])
                }
                guard let outcome else {
                    report.unchanged += 1
                    continue
                }
                if let refusal = ReceivedStateCheck.refusal(forMerged: outcome.merged, encodedBytes: outcome.encoded.state.count,
                                                            key: change.key, limits: limits) {
                    throw StoreError.batchRefused(refusal)
                }
                for version in outcome.unseen {
                    if let ahead = clock.aheadBeyondCap(version.hlc, wallMillis: wall) {
                        report.futureVersions += 1
                        maxAhead = max(maxAhead, ahead)
                        lastFuture = max(lastFuture, version.hlc)
                    } else {
                        highestReceived = max(highestReceived ?? version.hlc, version.hlc)
                    }
                }
                if let problem = outcome.problem {
                    report.schemaProblems += 1
                    try db.cachedStatement(sql: """
                        INSERT OR REPLACE INTO sync_schema_problems(collection, record, field, element, problem, peer, seen_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?)
                        """).execute(arguments: [change.key.collection, change.key.record, change.key.field, change.key.element,
                                                 problem, peer?.data, Int64(wall)])
                }
                try writer.store(change.key, state: outcome.merged, encoded: outcome.encoded,
                                 newVersions: outcome.unseen, echo: outcome.equalsRemote ? peer : nil,
                                 origin: peer == nil ? nil : GossipRules.origin(equalsRemote: outcome.equalsRemote, remote: change.origin))
                report.changed += 1
            }
            // The clock moves past the highest reading once: one receive per
            // version made it depend on the order of the batch, and a record's
            // slots come in its row's order, which is not fixed
            // (replication-model §3.2).
            if let highestReceived { _ = clock.receive(highestReceived, wallMillis: wall) }
            report.refusedRows = try writer.finish(rowsMayBeRefused: true)
            try db.setMeta(MetaKey.hlc, Int64(bitPattern: clock.last.raw))
            if let peer, let cursor {
                // A merge of a closed connection may finish after a newer
                // session's (its cursor then below the stored one): what it
                // read of the peer is older, and must not replace newer
                // knowledge. Read only for a batch that may teach.
                let stale = try claims != nil && cursor < db.cursor(for: peer)
                try db.cachedStatement(sql: """
                    INSERT INTO sync_cursors(peer, cursor, updated_at, peer_highest) VALUES (?, ?, ?, ?)
                    ON CONFLICT(peer) DO UPDATE SET
                        peer_highest = CASE WHEN excluded.cursor > cursor THEN excluded.peer_highest
                                            WHEN excluded.cursor = cursor THEN max(coalesce(peer_highest, 0), coalesce(excluded.peer_highest, 0))
                                            ELSE peer_highest END,
                        cursor = max(cursor, excluded.cursor), updated_at = excluded.updated_at
                    """).execute(arguments: [peer.data, Int64(bitPattern: cursor), Int64(wall),
                                             peerHighest.map { Int64(clamping: max($0, cursor)) }])
                if let peerHighest, let claims {
                    if let lesson = GossipRules.learned(peer: peer, cursor: cursor, peerHighest: peerHighest, claims: claims,
                                                        own: try db.replicaID()) {
                        try Self.learn(lesson, replacing: !stale, in: db)
                    }
                }
            }
            if repair, report.changed > 0 {
                report.forgotKnowledge = try Self.forgetKnowledge(in: db)
            }
            if report.futureVersions > 0 {
                try db.execute(sql: """
                    INSERT INTO sync_clock_reports(peer, count, max_ahead_ms, last_hlc, last_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(peer) DO UPDATE SET count = count + excluded.count,
                        max_ahead_ms = max(max_ahead_ms, excluded.max_ahead_ms), last_hlc = excluded.last_hlc, last_at = excluded.last_at
                    """, arguments: [(peer ?? ReplicaID(high: 0, low: 0)).data, report.futureVersions, Int64(maxAhead),
                                     Int64(bitPattern: lastFuture.raw), Int64(wall)])
            }
            return report
        }
        if let retired = report.retiredReplica { retireInMark(retired) }
        if let first = report.refusedRows.listed.first {
            options.logger.warning("a collection table refused rows of received records (a UNIQUE index of the analyst's own, an index or constraint on an expression that fails for the row, or a constraint of a table another program made again): their changes are stored and replicate, the rows stay as they were; `syncctl check` names the rows and what refuses them; drop it, then `syncctl check --repair` writes the rows",
                                   metadata: ["path": "\(path)", "peer": "\(peer.map { "\($0)" } ?? "none")", "count": "\(report.refusedRows.count)",
                                              "record": "\(first.ref)", "reason": "\(first.reason)"])
        }
        return report
    }

    /// Whether two loads of a slot found the same stored bytes (or both none).
    static func sameBytes(_ a: ArraySlice<UInt8>?, _ b: ArraySlice<UInt8>?) -> Bool {
        switch (a, b) {
        case (nil, nil): true
        case (let a?, let b?): a.elementsEqual(b)
        default: false
        }
    }

    /// The seq of `peer`'s feed up to which this replica has merged (0 if never).
    public func cursor(for peer: ReplicaID) throws -> UInt64 {
        try pool.read { db in
            try db.cursor(for: peer)
        }
    }
}
