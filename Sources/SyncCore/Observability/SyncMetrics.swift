import Metrics

/// The daemon's metrics, through swift-metrics (exported as Prometheus by `syncd`).
public struct SyncMetrics: Sendable {
    public init() {}

    func applied(_ report: ApplyReport, duration: Duration) {
        Counter(label: "syncd_slots_applied_total").increment(by: report.changed)
        Counter(label: "syncd_slots_unchanged_total").increment(by: report.unchanged)
        Counter(label: "syncd_future_versions_total").increment(by: report.futureVersions)
        Counter(label: "syncd_schema_problems_total").increment(by: report.schemaProblems)
        Counter(label: "syncd_dot_collisions_total").increment(by: report.dotCollisions)
        Metrics.Timer(label: "syncd_apply_batch_seconds").recordNanoseconds(duration.nanoseconds)
    }

    func lag(peer: String, _ slots: UInt64) {
        Gauge(label: "syncd_peer_lag_slots", dimensions: [("peer", peer)]).record(Double(slots))
    }

    func traffic(peer: String, bytesIn: UInt64, bytesOut: UInt64) {
        Counter(label: "syncd_bytes_received_total", dimensions: [("peer", peer)]).increment(by: Int(bytesIn))
        Counter(label: "syncd_bytes_sent_total", dimensions: [("peer", peer)]).increment(by: Int(bytesOut))
    }

    func digestMismatch(peer: String) {
        Counter(label: "syncd_digest_mismatches_total", dimensions: [("peer", peer)]).increment()
    }

    func syncDuration(peer: String, _ duration: Duration) {
        Metrics.Timer(label: "syncd_catch_up_seconds", dimensions: [("peer", peer)]).recordNanoseconds(duration.nanoseconds)
    }

    func refusedHandshake() { Counter(label: "syncd_refused_handshakes_total").increment() }

    func refusedRevocations(_ count: Int) { Counter(label: "syncd_refused_revocations_total").increment(by: count) }

    func refusedInvitation(reason: String) { Counter(label: "syncd_refused_invitations_total", dimensions: [("reason", reason)]).increment() }

    func digestSkipped(peer: String) { Counter(label: "syncd_digest_checks_skipped_total", dimensions: [("peer", peer)]).increment() }

    func refusedBatch(peer: String) { Counter(label: "syncd_refused_batches_total", dimensions: [("peer", peer)]).increment() }

    func connected(peer: String, _ up: Bool) {
        Gauge(label: "syncd_peer_connected", dimensions: [("peer", peer)]).record(up ? 1 : 0)
    }

    public func conflictsOpen(_ count: Int) { Gauge(label: "syncd_conflicts_open").record(Double(count)) }
}

extension Duration {
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// Whole milliseconds, never negative (what the pure machines take as time).
    var millis: UInt64 { UInt64(max(0, nanoseconds / 1_000_000)) }

    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
