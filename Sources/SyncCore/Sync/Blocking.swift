import NIOPosix

/// Runs blocking work (SQLite) on NIO's thread pool, never on the cooperative
/// pool: two cores must not be stalled by a long merge transaction.
public enum Blocking {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(work)
    }
}
