import PropertyBased
import Testing
@testable import SyncCore

@Suite("Hybrid logical clock (replication-model §3)", .timeLimit(.minutes(3)))
struct HybridClockTests {
    @Test func ticksAreStrictlyIncreasingEvenWhenWallTimeGoesBack() async {
        await propertyCheck(count: 200, input: Gen.uint64(in: 0...5_000).array(of: 1...50)) { walls in
            var clock = HybridClock()
            var previous = HLC.zero
            for wall in walls {
                let reading = clock.tick(wallMillis: 1_000_000 + wall)
                #expect(reading > previous)
                previous = reading
            }
        }
    }

    @Test func receiveMovesPastTheRemoteReading() async {
        await propertyCheck(count: 200, input: Gen.uint64(in: 0...100_000), Gen.uint16(in: 0...100)) { ahead, logical in
            var clock = HybridClock()
            let wall: UInt64 = 10_000_000
            let remote = HLC(millis: wall + ahead, logical: logical)
            #expect(clock.receive(remote, wallMillis: wall) == .accepted)
            #expect(clock.tick(wallMillis: wall) > remote)
        }
    }

    @Test func aReadingBeyondTheDriftCapIsReportedAndIgnored() {
        var clock = HybridClock(maxDriftMillis: 600_000)
        let wall: UInt64 = 10_000_000
        let remote = HLC(millis: wall + 3_600_000, logical: 0)
        #expect(clock.receive(remote, wallMillis: wall) == .fromTheFuture(aheadMillis: 3_600_000))
        let next = clock.tick(wallMillis: wall)
        #expect(next.millis <= wall + 600_000)
    }

    @Test func logicalOverflowBorrowsTheNextMillisecond() {
        var clock = HybridClock(last: HLC(millis: 500, logical: .max))
        let reading = clock.tick(wallMillis: 100)
        #expect(reading == HLC(millis: 501, logical: 0))
    }
}
