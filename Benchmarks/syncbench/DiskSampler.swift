import Foundation

/// The most a database file and its WAL took together on disk while some
/// work ran, sampled every few milliseconds on a thread of its own.
final class DiskSampler: @unchecked Sendable {
    private let path: String
    private let lock = NSLock()
    private var peak = 0
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(path: String, every interval: TimeInterval = 0.01) {
        self.path = path
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                let bytes = Self.bytes(path) + Self.bytes(path + "-wal")
                lock.withLock { peak = max(peak, bytes) }
                Thread.sleep(forTimeInterval: interval)
            }
            done.signal()
        }
    }

    /// Stops sampling; the peak seen, in bytes.
    func stop() -> Int {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { peak }
    }

    static func bytes(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }
}
