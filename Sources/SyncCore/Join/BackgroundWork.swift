import Foundation

/// Work run on a thread of its own, its result waited for once needed (the
/// join's check beside the adoption's copy, the received file's sync beside
/// the check).
final class BackgroundWork<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: Result<Value, Error>?
    private var ended: ContinuousClock.Instant?

    init(_ work: @escaping @Sendable () throws -> Value) {
        Thread.detachNewThread { [self] in
            let result = Result { try work() }
            lock.withLock { self.result = result; ended = .now }
            done.signal()
        }
    }

    /// The result, waiting for the work to end; its error rethrown. Any
    /// number of callers, any number of times: the same answer.
    func value() throws -> Value {
        if let outcome { return try outcome.get() }
        done.wait()
        done.signal()
        return try outcome!.get()
    }

    private var outcome: Result<Value, Error>? { lock.withLock { result } }

    /// Whether the work ended and threw (read by SQLite's progress handler).
    var hasFailed: Bool {
        lock.withLock { if case .failure? = result { true } else { false } }
    }
    var endedAt: ContinuousClock.Instant? { lock.withLock { ended } }
}

extension BackgroundWork where Value == Void {
    /// `fsync` of a file, through a duplicate of its descriptor (the caller
    /// may close its own meanwhile); a failure is a refusal of the snapshot.
    static func fileSync(_ descriptor: Int32) -> BackgroundWork<Void> {
        let copy = dup(descriptor)
        let cannotCopy = copy < 0 ? String(cString: strerror(errno)) : nil
        return BackgroundWork {
            if let cannotCopy { throw JoinSnapshotRefusal("cannot write the snapshot here: \(cannotCopy)") }
            defer { close(copy) }
            guard fsync(copy) == 0 else { throw JoinSnapshotRefusal("cannot write the snapshot here: \(String(cString: strerror(errno)))") }
        }
    }
}
