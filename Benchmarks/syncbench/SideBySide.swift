import Foundation
import SyncCore

/// Times of the store and of a baseline, measured in the same run, printed
/// per repetition and as best/median with the ratio of the medians.
struct SideBySide {
    let count: Int
    let unit: String
    let storeLabel: String
    let baselineLabel: String
    private(set) var storeTimes: [Double] = []
    private(set) var baselineTimes: [Double] = []

    init(count: Int, unit: String, storeLabel: String, baselineLabel: String) {
        self.count = count
        self.unit = unit
        self.storeLabel = storeLabel
        self.baselineLabel = baselineLabel
    }

    mutating func record(repetition: Int, store: Double, baseline: Double) {
        storeTimes.append(store)
        baselineTimes.append(baseline)
        print(String(format: "  run %d: store %.0f %@ (%.2f s), %@ %.0f %@ (%.2f s), ratio %.2fx",
                     repetition, Double(count) / store, unit, store, baselineLabel, Double(count) / baseline, unit, baseline, store / baseline))
    }

    func printSummary() {
        let storeMedian = median(storeTimes), baselineMedian = median(baselineTimes)
        print(String(format: "%@: best %.0f %@, median %.0f %@", storeLabel, Double(count) / storeTimes.min()!, unit, Double(count) / storeMedian, unit))
        print(String(format: "%@: best %.0f %@, median %.0f %@", baselineLabel, Double(count) / baselineTimes.min()!, unit, Double(count) / baselineMedian, unit))
        print(String(format: "ratio (store time / %@ time, medians): %.2fx  (aim: <= 3x)", baselineLabel, storeMedian / baselineMedian))
    }
}

/// Seconds `body` takes.
func timed(_ body: () throws -> Void) rethrows -> Double {
    let start = Date()
    try body()
    return Date().timeIntervalSince(start)
}

/// Runs `body` on a fresh store in a scratch directory that is removed afterwards.
func withScratchStore<T>(in scratch: String, _ body: (Store) throws -> T) throws -> T {
    let directory = URL(fileURLWithPath: scratch).appendingPathComponent("syncbench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(try Store(path: directory.appendingPathComponent("data.db").path))
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
