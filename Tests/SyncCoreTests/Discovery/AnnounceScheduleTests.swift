import Testing
@testable import SyncCore

/// When a daemon announces itself.
/// The limit counts from when the test case starts, and its body can then
/// wait for a pool thread: on two cores the store and simulation suites
/// beside it can hold both threads for over a minute (CI saw 87 s), so even
/// a pure suite gets 5.
@Suite("LAN discovery schedule", .timeLimit(.minutes(5)))
struct AnnounceScheduleTests {
    static let peer = DeviceID(hash: Array(repeating: 2, count: 32))

    @Test func onceAtStartThenEveryInterval() {
        var schedule = AnnounceSchedule(interval: 30, start: 100)
        #expect(!schedule.isDue(at: 99.9) && schedule.isDue(at: 100))
        schedule.sent(at: 100)
        #expect(!schedule.isDue(at: 129.9) && schedule.isDue(at: 130))
    }

    /// A peer heard with a new instance has just started: it is answered at
    /// once, but never sooner than the minimum gap after our last one, and
    /// the same instance heard again changes nothing.
    @Test func aRestartedPeerIsAnsweredEarlyButNotFlooded() {
        var schedule = AnnounceSchedule(interval: 30, start: 0)
        schedule.sent(at: 0)
        let restarted = schedule.heard(Self.peer, instance: 1, at: 0.2)
        #expect(restarted && schedule.nextDue == AnnounceSchedule.minimumGap)
        schedule.sent(at: 1)
        let again = schedule.heard(Self.peer, instance: 1, at: 5)
        #expect(!again && schedule.nextDue == 31)
        let restartedAgain = schedule.heard(Self.peer, instance: 2, at: 5)
        #expect(restartedAgain && schedule.isDue(at: 5))
        schedule.sent(at: 5)
        // A forger cycling instances gets one early announcement per gap, no more.
        for instance in UInt64(3)...50 { schedule.heard(Self.peer, instance: instance, at: 5.1) }
        #expect(schedule.nextDue == 5 + AnnounceSchedule.minimumGap)
    }

    @Test func aShortIntervalIsNeverStretchedByTheGap() {
        var schedule = AnnounceSchedule(interval: 0.5, start: 0)
        schedule.sent(at: 0)
        let early = schedule.heard(Self.peer, instance: 1, at: 0.1)
        #expect(!early && schedule.nextDue == 0.5)
    }
}
