import Foundation
import Testing
import SyncSimulation

/// Seeds of the deterministic simulation (docs/architecture.md, "Simulation").
@Suite("Simulation", .timeLimit(.minutes(5)))
struct SimulationTests {
    /// A batch of seeds: every invariant holds on each.
    @Test func seedsPass() {
        for seed in UInt64(1)...10 {
            let result = Simulation.run(SimulationOptions(seed: seed))
            #expect(result.passed, "seed \(seed): \(result.violations.prefix(3)); replay: swift run simulate --seed \(seed)")
            #expect(result.writes > 0 && result.convergedAfter != nil)
        }
    }

    /// A seed replays exactly: same events, same trace.
    @Test func aSeedReplaysExactly() {
        var options = SimulationOptions(seed: 7)
        options.trace = true
        let first = Simulation.run(options), second = Simulation.run(options)
        #expect(!first.trace.isEmpty)
        #expect(first.trace == second.trace)
    }
}
