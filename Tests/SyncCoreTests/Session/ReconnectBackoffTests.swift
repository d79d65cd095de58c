import Testing
import SyncCore
import SyncSimulation

@Suite("Reconnect backoff")
struct ReconnectBackoffTests {
    @Test func waitsDoubleWithJitterUpToTheCapAndResetAfterALastingConnection() {
        var backoff = ReconnectBackoff(initialMillis: 500, maxMillis: 4_000)
        var random = SeededRandom(seed: 3)
        var caps: [UInt64] = []
        for _ in 0..<6 {
            let cap = backoff.currentMillis
            let wait = backoff.next(lastedMillis: 20, random: random.next())
            #expect(wait >= cap / 2 && wait <= cap, "wait \(wait) outside [\(cap / 2), \(cap)]")
            caps.append(cap)
        }
        #expect(caps == [500, 1_000, 2_000, 4_000, 4_000, 4_000])
        // A connection that lasted past the reset starts again from the initial wait.
        let wait = backoff.next(lastedMillis: ReconnectBackoff.resetAfterMillis + 1, random: random.next())
        #expect(wait >= 250 && wait <= 500)
        #expect(backoff.currentMillis == 1_000)
    }

    @Test func theExtremesOfTheRandomNumberStayInsideTheWindow() {
        for random in [UInt64.min, 1, UInt64.max, UInt64.max - 1] {
            var backoff = ReconnectBackoff(initialMillis: 10, maxMillis: UInt64.max)
            for _ in 0..<70 {
                let cap = backoff.currentMillis
                let wait = backoff.next(lastedMillis: 0, random: random)
                #expect(wait >= cap / 2 && wait <= cap)
            }
            #expect(backoff.currentMillis == UInt64.max)
        }
    }
}
