/// When a daemon sends its announcement (pure: the time is passed in, as
/// seconds on a monotonic clock).
///
/// - once at start, then every `interval`;
/// - at once (but never sooner than `minimumGap` after the last one) when a
///   configured peer is heard with an instance we have not seen: it has just
///   started and does not know where we are yet. Syncthing's local
///   discovery answers a restarted device the same way.
///
/// So two daemons that start at different times find each other within a
/// moment of the second one's start, not one interval later; a peer that
/// keeps changing its instance (a forger) gets at most one early
/// announcement per `minimumGap`.
public struct AnnounceSchedule: Sendable, Equatable {
    public let interval: Double
    /// Never two announcements closer than this (or than `interval`, if shorter).
    public static let minimumGap = 1.0
    /// Peers whose instance is remembered; past it the memory is cleared
    /// (costs one early announcement each, no more).
    public static let maxRemembered = 1_024

    public private(set) var nextDue: Double
    private var lastSent: Double?
    private var instances: [DeviceID: UInt64] = [:]

    public init(interval: Double, start: Double) {
        self.interval = interval
        nextDue = start
    }

    public func isDue(at now: Double) -> Bool { now >= nextDue }

    /// Notes that the announcement went out at `now`.
    public mutating func sent(at now: Double) {
        lastSent = now
        nextDue = now + interval
    }

    /// Notes an announcement of a configured peer; brings ours forward when
    /// that peer is new or restarted. Returns whether it did.
    @discardableResult
    public mutating func heard(_ device: DeviceID, instance: UInt64, at now: Double) -> Bool {
        guard instances[device] != instance else { return false }
        if instances.count >= Self.maxRemembered { instances.removeAll() }
        instances[device] = instance
        let earliest = lastSent.map { $0 + min(Self.minimumGap, interval) } ?? now
        let early = max(now, earliest)
        guard early < nextDue else { return false }
        nextDue = early
        return true
    }
}
