import Foundation
import SyncCore

/// `GET /api/v1/watch?sql=…`: a watched SQL query as Server-Sent Events
/// (docs/api.md). First a `row` event per current row and `ready`, then an
/// `added`, `changed` or `removed` event per row as changes arrive. Runs
/// on the watch threads (`Blocking.runWatch`), each run within the
/// `QueryWatch.Limits` (time, rows, bytes).
struct WatchStream: Sendable {
    let watch: QueryWatch

    /// How often the database is checked for commits.
    static let interval: Duration = .milliseconds(100)

    func run(stillAuthorized: @Sendable () -> Bool, send: @Sendable (String) async throws -> Void) async throws {
        let watch = self.watch
        // A client that leaves interrupts a run in progress.
        try await withTaskCancellationHandler {
            try await stream(stillAuthorized: stillAuthorized, send: send)
        } onCancel: {
            watch.stop()
        }
    }

    private func stream(stillAuthorized: @Sendable () -> Bool, send: @Sendable (String) async throws -> Void) async throws {
        let watch = self.watch
        defer { watch.stop() }
        try await send("retry: 2000\n\n")
        let rows: QueryRows
        do { rows = try await Blocking.runWatch { try watch.start() } } catch {
            try await send(ServerSentEvent(event: "failed", data: EventStream.json(["error": "\(error)"])).encoded)
            return
        }
        for row in rows.rows {
            try await send(ServerSentEvent(event: "row", data: RowEventJSON.row(row, columns: rows.columns, at: Date()).line).encoded)
        }
        try await send(ServerSentEvent(event: "ready", data: EventStream.json(["rows": rows.rows.count])).encoded)
        var lastBeat = ContinuousClock.now
        while !Task.isCancelled, stillAuthorized() {
            try await Task.sleep(for: Self.interval)
            let events: [RowEvent]
            do { events = try await Blocking.runWatch { try watch.poll() } } catch {
                try await send(ServerSentEvent(event: "failed", data: EventStream.json(["error": "\(error)"])).encoded)
                return
            }
            for event in events {
                let line = RowEventJSON(event, columns: rows.columns, at: Date())
                try await send(ServerSentEvent(event: line.event, data: line.line).encoded)
            }
            if ContinuousClock.now - lastBeat >= EventStream.heartbeat {
                try await send(ServerSentEvent.comment("ping"))
                lastBeat = .now
            }
        }
    }
}
