import Foundation

/// "imported 4000/20000" on standard error for long runs.
final class Progress {
    let label: String
    let total: Int
    let enabled: Bool
    private var last = -1

    init(label: String, total: Int, enabled: Bool) {
        self.label = label
        self.total = total
        self.enabled = enabled
    }

    func update(_ done: Int) {
        let step = max(1, min(1_000, total / 100))
        guard enabled, done / step != last / step || done == total else { return }
        last = done
        FileHandle.standardError.write(Data("\r\(label) \(done)/\(total)".utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// "copying the database… 12 s" on standard error, once a second, for work
/// that cannot report its own progress.
final class ElapsedTicker: @unchecked Sendable {
    private let lock = NSLock()
    private var running = true
    private let enabled: Bool

    init(label: String, enabled: Bool) {
        self.enabled = enabled
        guard enabled else { return }
        let started = Date()
        Thread.detachNewThread { [self] in
            while true {
                Thread.sleep(forTimeInterval: 1)
                guard lock.withLock({ running }) else { return }
                FileHandle.standardError.write(Data("\r\(label)… \(Int(Date().timeIntervalSince(started))) s".utf8))
            }
        }
    }

    func stop() {
        lock.withLock { running = false }
        if enabled { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
