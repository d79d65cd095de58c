import Foundation
import GRDB

/// `sync_knowledge`: per replica, the highest seq of its feed this replica is
/// known to hold everything of (replication-model §4.7). Only ever used to
/// skip sending a peer what it holds; at most `GossipRules.maxKnowledgeRows`.
extension Store {
    /// Stores what a complete read of a peer's feed taught, in the
    /// caller's transaction: the peer's own highest seq replaces what was
    /// held about it (a higher word was false, or its feed went back:
    /// lowering only ever sends more), unless `replacing` is false (a read
    /// older than one already merged: then it only raises); claims raise
    /// (never lower) what is held about third replicas. A replica not yet
    /// known is added only below the row limit, claims only below it less
    /// `directReserve`.
    static func learn(_ lesson: GossipRules.Lesson, replacing: Bool = true, in db: Database) throws {
        try store([lesson.direct], replacing: replacing, upTo: GossipRules.maxKnowledgeRows, in: db)
        try learn(lesson.claims, in: db)
    }

    /// Raises the stored knowledge to `claims` (never lowers it), in the
    /// caller's transaction; a replica not yet known is added only below
    /// `maxKnowledgeRows - directReserve` rows.
    static func learn(_ claims: [KnowledgeEntry], in db: Database) throws {
        try store(claims, replacing: false, upTo: GossipRules.maxKnowledgeRows - GossipRules.directReserve, in: db)
    }

    /// Sets (`replacing`) or raises each entry's row; a replica without a
    /// row gets one only while the table has fewer than `rowLimit`.
    private static func store(_ entries: [KnowledgeEntry], replacing: Bool, upTo rowLimit: Int, in db: Database) throws {
        guard entries.contains(where: { $0.seq > 0 }) else { return }
        var rows = try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM sync_knowledge")) ?? 0
        let update = try db.cachedStatement(sql: replacing ? "UPDATE sync_knowledge SET seq = ? WHERE replica = ?"
                                                           : "UPDATE sync_knowledge SET seq = max(seq, ?) WHERE replica = ?")
        let insert = try db.cachedStatement(sql: "INSERT INTO sync_knowledge(replica, seq) VALUES (?, ?)")
        for entry in entries where entry.seq > 0 {
            let seq = Int64(clamping: entry.seq)
            try update.execute(arguments: [seq, entry.replica.data])
            if db.changesCount == 0, rows < rowLimit {
                try insert.execute(arguments: [entry.replica.data, seq])
                rows += 1
            }
        }
    }

    /// The stored knowledge, in the caller's transaction: first the
    /// replicas this one pulls from itself (a `sync_cursors` row), then
    /// the others, each by id. A connection numbers at most
    /// `maxKnowledgeEntries` replicas in the order they are first told, so
    /// made-up ids spread by a hostile peer cannot take the numbers of
    /// real peers.
    static func storedKnowledge(in db: Database) throws -> [KnowledgeEntry] {
        try Row.fetchAll(db.cachedStatement(sql: """
            SELECT k.replica, k.seq FROM sync_knowledge k
            ORDER BY EXISTS (SELECT 1 FROM sync_cursors c WHERE c.peer = k.replica) DESC, k.replica
            """)).compactMap { row in
            guard let replica = ReplicaID(bytes: row[0] as Data), let seq = row[1] as Int64?, seq > 0 else { return nil }
            return KnowledgeEntry(replica, UInt64(seq))
        }
    }

    /// What this replica tells a peer it pulls from: the stored knowledge
    /// (never about itself: a server does not take a puller's word about the
    /// puller, `GossipRules.pullerHolds`).
    public func knowledge() throws -> [ReplicaID: UInt64] {
        var known: [ReplicaID: UInt64] = [:]
        for entry in try knowledgeInOrder() { known[entry.replica] = entry.seq }
        return known
    }

    /// The same, in the order it is told (`storedKnowledge`).
    public func knowledgeInOrder() throws -> [KnowledgeEntry] {
        try pool.read { db in try Self.storedKnowledge(in: db) }
    }

    /// Forgets every claim: after a digest repair changed something here, a
    /// claim may have been wrong (a hostile peer's), so none is trusted.
    public func forgetKnowledge() throws {
        try pool.write { db in _ = try Self.forgetKnowledge(in: db) }
    }

    /// Drops every claim in the caller's transaction (a repair that changed
    /// something, a replica id taken back); returns whether there were any.
    static func forgetKnowledge(in db: Database) throws -> Bool {
        try db.execute(sql: "DELETE FROM sync_knowledge")
        return db.changesCount > 0
    }
}
