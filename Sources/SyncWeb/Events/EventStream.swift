import Foundation
import SyncCore

/// The live feed behind `GET /api/v1/events`: changes as they are applied
/// (with author and device), the schema's hash when it changes (a change
/// made here, by `syncctl schema`, or received from a peer), the
/// open-conflict count and peer states.
/// Resumes after `Last-Event-ID` (a local seq) when the browser reconnects.
struct EventStream: Sendable {
    let context: WebContext

    /// Changes sent at most per wake-up; beyond it the page is told to reload.
    static let maxChangesPerTick = 500
    /// A comment is sent this often so a closed connection is noticed.
    static let heartbeat: Duration = .seconds(5)

    struct PeerState: Encodable, Equatable {
        let name: String
        let deviceID: String
        let state: String
        let mode: String
        let lag: UInt64
        let lastSync: Date?
        let lastError: String?
    }

    /// Streams until the client leaves, the task is cancelled, or
    /// `stillAuthorized` turns false (a logout, a rotated API key): checked
    /// on every tick, at most a second apart.
    func run(resumeAfter: UInt64?, stillAuthorized: @Sendable () -> Bool = { true }, send: @Sendable (String) async throws -> Void) async throws {
        let store = context.store
        let notifier = context.notifier
        var lastSeq = min(resumeAfter ?? notifier.highestSeq, notifier.highestSeq)
        var lastConflicts = -1
        var lastPeers: [UInt8] = []
        var lastBeat = ContinuousClock.now
        var lastSchema = store.schema.hash
        var toldProblem = false
        try await send("retry: 2000\n\n")
        try await send(ServerSentEvent(event: "hello", data: Self.json(Hello(seq: lastSeq, schema: lastSchema))).encoded)
        while !Task.isCancelled, stillAuthorized() {
            // Before the changes: a page redrawn for them knows the new fields.
            let schema = store.schema.hash
            if !schema.utf8.elementsEqual(lastSchema.utf8) {
                try await send(ServerSentEvent(event: "schema", data: Self.json(["hash": schema])).encoded)
                lastSchema = schema
            }
            let target = notifier.highestSeq
            if target > lastSeq {
                let since = lastSeq
                let read: (changes: RecentChanges, devices: [ReplicaID: String])?
                do {
                    read = try await Blocking.run {
                        (try store.recentChanges(ChangeFilter(sinceSeq: since, limit: Self.maxChangesPerTick)), try store.knownDevices())
                    }
                } catch {
                    if Task.isCancelled { throw error }
                    // Damage (a row recentChanges cannot read, rather than
                    // leave it out; SQLite's corrupt or I/O errors): said
                    // once per connection and logged. A failure that passes
                    // by itself (a busy database, a full disk) is logged,
                    // not shown. Either way the page is told to reload (its
                    // views read what they can), and the stream goes on
                    // with conflicts and peers.
                    if !ReadFailure.passes(error) {
                        if !toldProblem {
                            context.logger.warning("the live feed could not read the changes it shows; run `syncctl check`", metadata: ["error": "\(error)"])
                            try await send(ServerSentEvent(event: "problem",
                                                           data: Self.json(["message": "Changes arrived that this page cannot list: the store could not be read. Run `syncctl check`."])).encoded)
                            toldProblem = true
                        }
                    } else {
                        context.logger.notice("the live feed could not read the changes it shows; the page reloads", metadata: ["error": "\(error)"])
                    }
                    read = nil
                }
                if let (changes, devices) = read, !(changes.more || changes.truncated) {
                    // Several changes share a seq (one transaction): only the
                    // last of a seq carries the id, so a browser that drops
                    // inside the group resumes with the whole group again.
                    let ordered = changes.changes.reversed().filter { $0.seq <= target }
                    for (index, change) in ordered.enumerated() {
                        let lastOfSeq = index == ordered.count - 1 || ordered[index + 1].seq != change.seq
                        try await send(ServerSentEvent(id: lastOfSeq ? String(change.seq) : nil, event: "change",
                                                       data: Self.json(ChangeJSON(change, devices: devices))).encoded)
                    }
                } else {
                    try await send(ServerSentEvent(id: String(target), event: "reload", data: Self.json(["seq": target])).encoded)
                }
                lastSeq = target
            }
            let conflicts = try await Blocking.run { try store.conflictCount() }
            if conflicts != lastConflicts {
                try await send(ServerSentEvent(event: "conflicts", data: Self.json(["open": conflicts])).encoded)
                lastConflicts = conflicts
            }
            let peers = await context.registry.status().map {
                PeerState(name: $0.name, deviceID: $0.deviceID, state: $0.state, mode: $0.mode, lag: $0.lag, lastSync: $0.lastSync, lastError: $0.lastError)
            }
            let encodedPeers = Array(Self.json(peers).utf8)
            if encodedPeers != lastPeers {
                try await send(ServerSentEvent(event: "peers", data: String(decoding: encodedPeers, as: UTF8.self)).encoded)
                lastPeers = encodedPeers
            }
            if ContinuousClock.now - lastBeat >= Self.heartbeat {
                try await send(ServerSentEvent.comment("ping"))
                lastBeat = .now
            }
            _ = try await notifier.wait(beyond: lastSeq, timeout: .seconds(1))
        }
    }

    struct Hello: Encodable {
        let seq: UInt64
        /// The schema's hash: a page that loaded another one reloads it.
        let schema: String
    }

    static func json<T: Encodable>(_ value: T) -> String {
        String(decoding: (try? WebResponse.encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
