import Foundation
import SyncCore

/// What one simulated run does (docs/architecture.md, "Simulation").
public struct SimulationOptions: Sendable {
    public var seed: UInt64
    public var replicas: ClosedRange<Int> = 3...5
    /// How long faults and writes go on, in virtual milliseconds.
    public var chaosMillis: UInt64 = 60_000
    /// How long the healed network has to converge.
    public var healLimitMillis: UInt64 = 180_000
    /// How long a converged network is watched for traffic that should not be.
    public var quietMillis: UInt64 = 15_000
    /// Chaos steps (writes and faults) taken before the world heals; nil for
    /// all of them. The replay shrinks a failing run by lowering it.
    public var maxChaosSteps: Int?
    /// Keep a trace of every event (for replays).
    public var trace = false
    /// Where the replicas' files go (a fresh temporary folder when nil).
    public var directory: URL?
    /// Old bugs put back, to show that the simulation finds them:
    /// `copied-database` (a copy of a data directory keeps its replica id,
    /// as before issue 19). The same-dot merge bug is compiled in with
    /// `-Xswiftc -DSYNCD_REINTRODUCE_SAME_DOT_BUG`.
    public var reintroduce: Set<String> = []
    /// One replica lies (replication-model §4.7, "What a lie costs"),
    /// before and after the heal, in three ways: with every batch that
    /// carries its knowledge it also claims to hold third replicas' feeds
    /// far beyond what it holds (up to 2^63 - 1); half the slots of each of
    /// its gossip batches carry a false origin; and pulling, it tells its servers
    /// it holds more than it does. Its pullers then hold back states they
    /// lack, which only digest repair brings; so the checks that every hold
    /// is true and that no repair is needed after catching up are off, and
    /// every other invariant (convergence, no lost write, quiet) must still
    /// hold.
    public var liar = false

    public init(seed: UInt64) { self.seed = seed }
}

/// What a run found.
public struct SimulationResult: Sendable {
    public let seed: UInt64
    public var violations: [String] = []
    public var trace: [String] = []
    public var chaosSteps = 0
    public var writes = 0
    public var messages = 0
    public var drops = 0
    public var crashes = 0
    /// How often each fault and each kind of write happened (`Simulation.faultKinds`).
    public var faults: [String: Int] = [:]
    public var refusals = 0
    /// Slots a feed held back because the puller said it held them (§4.7).
    public var slotsHeld = 0
    /// Lies the liar told (`SimulationOptions.liar`), by kind.
    public var lies = LieCounts()
    /// Virtual milliseconds from the heal to equal digests, when reached.
    public var convergedAfter: UInt64?
    /// The invariants checked at the end, by name.
    public var checked: [String] = []
    public var passed: Bool { violations.isEmpty }
}

public enum Simulation {
    /// The old bugs `SimulationOptions.reintroduce` knows.
    public static let knownBugs = ["copied-database"]

    /// The faults and writes a run draws, by the names `SimulationResult.faults` counts.
    public static let faultKinds = ["link drop", "partition", "crash", "clock skew", "clock jump back 2 h", "copied database",
                                    "mode change", "import", "snapshot", "restore", "restore abandoned mid-copy", "restore: SQL edits carried over", "join by snapshot", "join: rows held back by the analyst's index", "join: kept-aside name lost", "join: copy's journal removal lost", "legacy dot collision", "visitor's unknown field",
                                    "sql: statement", "sql: rolled back", "sql: refused by a trigger", "sql: taken up", "sql: refused and kept", "sql: analyst's column", "sql: analyst's own table",
                                    "sql: analyst's unique index", "sql: analyst's unique index refused", "write: refused by the analyst's index", "sql: rows the analyst's index refused, written at the end",
                                    "write: set", "write: create", "write: delete", "write: set member", "write: resolve", "schema change",
                                    "disk full", "disk full: write refused", "disk full: batch refused"]

    /// The invariants every run checks.
    public static let invariants = ["dots issued once (no honest dot collision merged)", "cursors only forward (stale merges included)",
                                    "one pull unanswered and at most 2 batches unmerged per direction",
                                    "no protocol violation, refusal, id taken back or link closed between honest peers after the heal",
                                    "equal digests within the heal limit", "equal slot states byte for byte",
                                    "live versions exactly the oracle's (no lost write, no superseded version left)",
                                    "readers show every conflict", "quiet after convergence (no slot sent, no commit)",
                                    "no digest mismatch after catching up", "every slot held back is held by the puller", "no slot travels against a peer's mode",
                                    "no database kept aside after syncing",
                                    "SQL writes all taken up or kept with a reason; tables equal the replicated state byte for byte, and flag in conflict the records a reader does",
                                    "a restore keeps every SQL edit waiting or refused (the database's and the snapshot's)",
                                    "converged replicas validate against one schema (replicated schema changes)",
                                    "history shows every live version once, as current; recent changes no version twice",
                                    "importing an export (CSV, JSONL) changes nothing, look-alike text included",
                                    "an analyst's own cell (an added column) or row (a table of theirs) is never lost without a copy: in its table, a kept-columns table or a database kept aside (checked after every event)",
                                    "an analyst's UNIQUE index on a collection table holds back rows of that table only, never a batch: with it dropped and the rows repaired, the tables equal the state",
                                    "a write or batch a full disk fails leaves the store as it was (digest, highest seq, replica id, cursor) and says so; pulled again once the disk has room"]

    /// The invariants a lying replica breaks by design (`SimulationOptions.liar`);
    /// "quiet" then counts feed batches only (a repair its lies made
    /// necessary may land after the replicas converge).
    public static let offWithLiar = ["no digest mismatch after catching up", "every slot held back is held by the puller"]

    /// Runs one seed to the end and checks every invariant.
    public static func run(_ options: SimulationOptions) -> SimulationResult {
        let directory = options.directory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("syncd-sim-\(options.seed)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))")
        defer { if options.directory == nil { try? FileManager.default.removeItem(at: directory) } }
        let world = World(options: options, directory: directory)
        return world.run()
    }

    /// Runs `seed`, and if it fails, the shortest prefix of its chaos steps
    /// that still fails (binary search): what `simulate --seed` replays.
    /// A shorter prefix counts only if it fails the same way (a violation of
    /// the same kind as the run's first), not for some other reason.
    public static func shrink(_ failing: SimulationResult, options: SimulationOptions) -> (steps: Int, result: SimulationResult) {
        var low = 0, high = failing.chaosSteps
        var best = failing
        let wanted = failing.violations.first.map(kind)
        while low < high {
            let middle = (low + high) / 2
            var trial = options
            trial.maxChaosSteps = middle
            let result = run(trial)
            if result.violations.contains(where: { kind($0) == wanted }) { high = middle; best = result } else { low = middle + 1 }
        }
        return (high, best)
    }

    /// A violation without its time, numbers, names and ids: what kind it is.
    static func kind(_ violation: String) -> String {
        let text = violation.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init) ?? violation
        return text.split(separator: " ").filter { word in !word.contains(where: \.isNumber) }.joined(separator: " ")
    }
}

/// How often the liar lied, one count per kind, so a test can show that each
/// kind was told (a kind never told proves nothing about what it costs).
public struct LieCounts: Sendable, Equatable {
    /// Batches that carried made-up knowledge claims.
    public var claims = 0
    /// Batches with slots whose origins were made up (gossip batches only).
    public var origins = 0
    /// Knowledge reads (the puller's word to its server) inflated.
    public var words = 0

    public init() {}

    public var total: Int { claims + origins + words }

    public static func += (lhs: inout LieCounts, rhs: LieCounts) {
        lhs.claims += rhs.claims
        lhs.origins += rhs.origins
        lhs.words += rhs.words
    }

    public var summary: String { "\(claims) false claims, \(origins) batches with false origins, \(words) inflated words" }
}
