import NIOPosix

/// Runs blocking work (SQLite) on NIO's thread pool, never on the cooperative
/// pool: two cores must not be stalled by a long merge transaction.
public enum Blocking {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }

    /// Two threads of their own for watched queries (`QueryWatch`): a
    /// client's query, however slow, never holds a thread that the store,
    /// merges or the API need.
    public static let watchPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    public static func runWatch<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await watchPool.runIfActive(work)
    }
}
