import ArgumentParser
import Foundation
import SyncSimulation

/// `swift run simulate`: runs seeds of the deterministic simulation and
/// reports what each checked; a failing seed is shrunk and replayed with
/// its trace (docs/architecture.md, "Simulation").
@main
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the deterministic simulation of replicas, network and faults.",
        discussion: """
            Each seed builds 3-5 replicas with real SQLite stores, links them in a random \
            topology, and for a minute of virtual time writes, drops links, partitions, \
            crashes and skews clocks; then it heals and checks the invariants.

            Examples:
              swift run simulate --runs 200            # seeds 1…200
              swift run simulate --seed 42 --trace     # replay one seed with its events
              swift run simulate --runs 10000 --first 5000
              swift run simulate --runs 50 --reintroduce copied-database   # show it finds an old bug
            """)

    @Option(help: "Run this one seed (replay).") var seed: UInt64?
    @Option(help: "How many seeds to run, from --first.") var runs = 100
    @Option(help: "The first seed of a batch.") var first: UInt64 = 1
    @Flag(help: "Print every event of a failing (or --seed) run.") var trace = false
    @Option(help: "Chaos steps to run before healing (replays a shrunk prefix).") var steps: Int?
    @Option(help: "Put an old bug back to see the simulation find it: copied-database.") var reintroduce: [String] = []

    func options(_ seed: UInt64) -> SimulationOptions {
        var options = SimulationOptions(seed: seed)
        options.reintroduce = Set(reintroduce)
        return options
    }

    func validate() throws {
        for bug in reintroduce where !Simulation.knownBugs.contains(bug) {
            throw ValidationError("unknown bug '\(bug)': known are \(Simulation.knownBugs.joined(separator: ", "))")
        }
    }

    func run() throws {
        if let seed {
            var options = options(seed)
            options.trace = true
            options.maxChaosSteps = steps
            let result = Simulation.run(options)
            if trace || !result.passed { for line in result.trace { print(line) } }
            report(result)
            if !result.passed { throw ExitCode(1) }
            return
        }
        let started = Date()
        var failed: [UInt64] = []
        var totals = (writes: 0, messages: 0, drops: 0, crashes: 0, converge: UInt64(0), slowest: UInt64(0))
        for seed in first..<(first + UInt64(runs)) {
            let result = Simulation.run(options(seed))
            totals.writes += result.writes
            totals.messages += result.messages
            totals.drops += result.drops
            totals.crashes += result.crashes
            totals.converge += result.convergedAfter ?? 0
            totals.slowest = max(totals.slowest, result.convergedAfter ?? 0)
            if !result.passed {
                failed.append(seed)
                print("seed \(seed) FAILED:")
                for violation in result.violations.prefix(5) { print("  \(violation)") }
                let shrunk = Simulation.shrink(result, options: options(seed))
                let bugs = reintroduce.map { " --reintroduce \($0)" }.joined()
                print("  shortest failing prefix: \(shrunk.steps) of \(result.chaosSteps) chaos steps; replay: swift run simulate --seed \(seed) --steps \(shrunk.steps)\(bugs) --trace")
            }
            let done = seed - first + 1
            if done % 100 == 0 || done == UInt64(runs) {
                let elapsed = Date().timeIntervalSince(started)
                print("\(done)/\(runs) seeds, \(failed.count) failed, \(String(format: "%.1f", elapsed)) s")
            }
        }
        let elapsed = Date().timeIntervalSince(started)
        print("""
            ran \(runs) seeds (\(first)…\(first + UInt64(runs) - 1)) in \(String(format: "%.1f", elapsed)) s: \(runs - failed.count) passed, \(failed.count) failed
            totals: \(totals.writes) writes, \(totals.messages) messages, \(totals.drops) link drops, \(totals.crashes) crashes
            convergence after the heal: mean \(runs > 0 ? totals.converge / UInt64(runs) : 0) ms, slowest \(totals.slowest) ms (virtual)
            invariants: \(Simulation.invariants.joined(separator: "; "))
            """)
        if !failed.isEmpty {
            print("failed seeds: \(failed.map(String.init).joined(separator: " "))")
            throw ExitCode(1)
        }
    }

    func report(_ result: SimulationResult) {
        print("seed \(result.seed): \(result.passed ? "passed" : "FAILED"), \(result.chaosSteps) chaos steps, \(result.writes) writes, \(result.messages) messages, \(result.drops) drops, \(result.crashes) crashes, converged after \(result.convergedAfter.map { "\($0) ms" } ?? "never")")
        for violation in result.violations { print("  \(violation)") }
    }
}
