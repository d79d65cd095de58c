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
              swift run simulate --runs 10000 --jobs 2   # both cores
              swift run simulate --runs 50 --reintroduce copied-database   # show it finds an old bug
              swift run simulate --runs 40 --liar      # one replica sends false claims, origins and words
            """)

    @Option(help: "Run this one seed (replay).") var seed: UInt64?
    @Option(help: "How many seeds to run, from --first.") var runs = 100
    @Option(help: "The first seed of a batch.") var first: UInt64 = 1
    @Flag(help: "Print every event of a failing (or --seed) run.") var trace = false
    @Option(help: "Chaos steps to run before healing (replays a shrunk prefix).") var steps: Int?
    @Option(help: "Seeds run at once (one world per thread; a seed replays the same on any count).") var jobs = 1
    @Option(help: "Put an old bug back to see the simulation find it: copied-database.") var reintroduce: [String] = []
    @Flag(help: "Replica r0 lies: its batches claim third replicas' feeds far beyond what it holds and give half their slots false origins, and its knowledge messages claim more than it holds (replication-model §4.7).") var liar = false

    func options(_ seed: UInt64) -> SimulationOptions {
        var options = SimulationOptions(seed: seed)
        options.reintroduce = Set(reintroduce)
        options.liar = liar
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
        let tally = Tally(first: first, runs: runs)
        // Seeds are independent worlds: each worker takes the next one.
        DispatchQueue.concurrentPerform(iterations: max(1, jobs)) { _ in
            while let seed = tally.nextSeed() {
                let result = Simulation.run(options(seed))
                var lines: [String] = []
                if !result.passed {
                    lines.append("seed \(seed) FAILED:")
                    lines += result.violations.prefix(5).map { "  \($0)" }
                    let shrunk = Simulation.shrink(result, options: options(seed))
                    let bugs = reintroduce.map { " --reintroduce \($0)" }.joined() + (liar ? " --liar" : "")
                    lines.append("  shortest failing prefix: \(shrunk.steps) of \(result.chaosSteps) chaos steps; replay: swift run simulate --seed \(seed) --steps \(shrunk.steps)\(bugs) --trace\(Self.compiledBugs)")
                }
                tally.add(result, lines: lines, elapsed: Date().timeIntervalSince(started))
            }
        }
        let elapsed = Date().timeIntervalSince(started)
        let totals = tally.totals
        print("""
            ran \(runs) seeds (\(first)…\(first + UInt64(runs) - 1)) with \(max(1, jobs)) job(s) in \(String(format: "%.1f", elapsed)) s: \(runs - totals.failed.count) passed, \(totals.failed.count) failed
            totals: \(totals.writes) writes, \(totals.messages) messages, \(totals.drops) link drops (all causes), \(totals.crashes) crashes, \(totals.slotsHeld) slots held back as already held (\(liar ? "liar: \(totals.lies.summary); holds not checked" : "each checked"))
            faults and writes drawn: \(Simulation.faultKinds.map { "\($0) \(totals.faults[$0] ?? 0)" }.joined(separator: ", "))
            convergence after the heal: mean \(runs > 0 ? totals.converge / UInt64(runs) : 0) ms, slowest \(totals.slowest) ms (virtual)
            invariants: \(Simulation.invariants.filter { !liar || !Simulation.offWithLiar.contains($0) }.joined(separator: "; "))\(liar ? " (off with --liar: \(Simulation.offWithLiar.joined(separator: "; ")))" : "")
            """)
        if !totals.failed.isEmpty {
            print("failed seeds: \(totals.failed.sorted().map(String.init).joined(separator: " "))")
            throw ExitCode(1)
        }
    }

    /// Bugs compiled in, named so a replay is run from the same build.
    #if SYNCD_REINTRODUCE_SAME_DOT_BUG
    static let compiledBugs = " (in the build made with -Xswiftc -DSYNCD_REINTRODUCE_SAME_DOT_BUG)"
    #else
    static let compiledBugs = ""
    #endif

    func report(_ result: SimulationResult) {
        print("seed \(result.seed): \(result.passed ? "passed" : "FAILED"), \(result.chaosSteps) chaos steps, \(result.writes) writes, \(result.messages) messages, \(result.drops) drops, \(result.crashes) crashes, converged after \(result.convergedAfter.map { "\($0) ms" } ?? "never"), \(result.slotsHeld) slots held back\(liar ? ", liar: \(result.lies.summary)" : "")")
        print("  faults and writes: " + Simulation.faultKinds.map { "\($0) \(result.faults[$0] ?? 0)" }.joined(separator: ", "))
        for violation in result.violations { print("  \(violation)") }
    }
}

/// The seeds handed out and the results gathered, across worker threads.
final class Tally: @unchecked Sendable {
    struct Totals {
        var writes = 0, messages = 0, drops = 0, crashes = 0, slotsHeld = 0
        var lies = LieCounts()
        var faults: [String: Int] = [:]
        var converge: UInt64 = 0, slowest: UInt64 = 0
        var done = 0
        var failed: [UInt64] = []
    }

    private let lock = NSLock()
    private var next: UInt64
    private let end: UInt64
    private let runs: Int
    private var sums = Totals()

    init(first: UInt64, runs: Int) {
        next = first
        end = first + UInt64(runs)
        self.runs = runs
    }

    func nextSeed() -> UInt64? {
        lock.withLock {
            guard next < end else { return nil }
            defer { next += 1 }
            return next
        }
    }

    func add(_ result: SimulationResult, lines: [String], elapsed: Double) {
        lock.withLock {
            sums.writes += result.writes
            sums.messages += result.messages
            sums.drops += result.drops
            sums.crashes += result.crashes
            sums.slotsHeld += result.slotsHeld
            sums.lies += result.lies
            sums.faults.merge(result.faults, uniquingKeysWith: +)
            sums.converge += result.convergedAfter ?? 0
            sums.slowest = max(sums.slowest, result.convergedAfter ?? 0)
            sums.done += 1
            if !result.passed { sums.failed.append(result.seed) }
            for line in lines { print(line) }
            if sums.done % 100 == 0 || sums.done == runs {
                print("\(sums.done)/\(runs) seeds, \(sums.failed.count) failed, \(String(format: "%.1f", elapsed)) s")
            }
            fflush(nil)
        }
    }

    var totals: Totals { lock.withLock { sums } }
}
