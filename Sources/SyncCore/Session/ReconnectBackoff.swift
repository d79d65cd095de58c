/// How long a dialer waits before it dials a peer again (docs/operations.md,
/// `reconnect`): capped exponential backoff with jitter, reset by a
/// connection that lasted. Pure: the driver (`SyncNode.dial`) passes in how
/// long the last attempt lasted and a random number, and sleeps.
public struct ReconnectBackoff: Sendable, Equatable {
    public let initialMillis: UInt64
    public let maxMillis: UInt64
    /// The backoff before jitter, doubled after each short attempt.
    public private(set) var currentMillis: UInt64
    /// A connection that lasted this long was a success: the next wait
    /// starts from `initialMillis` again.
    public static let resetAfterMillis: UInt64 = 10_000

    public init(initialMillis: UInt64, maxMillis: UInt64) {
        self.initialMillis = max(1, initialMillis)
        self.maxMillis = max(self.initialMillis, maxMillis)
        currentMillis = self.initialMillis
    }

    /// The wait after an attempt that lasted `lastedMillis`: uniform in
    /// [backoff/2, backoff] (so peers that lost each other at once do not
    /// redial in step), drawn from `random`; then the backoff doubles.
    public mutating func next(lastedMillis: UInt64, random: UInt64) -> UInt64 {
        if lastedMillis > Self.resetAfterMillis { currentMillis = initialMillis }
        let low = currentMillis / 2
        let wait = low + random % (currentMillis - low + 1)
        currentMillis = min(currentMillis.multipliedReportingOverflow(by: 2).overflow ? maxMillis : currentMillis * 2, maxMillis)
        return wait
    }
}
