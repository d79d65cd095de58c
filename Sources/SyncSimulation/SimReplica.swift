import Foundation
import Synchronization
import SyncCore

/// One replica of a simulation: a real `Store` on a SQLite file, whose wall
/// clock and randomness come from the world (virtual time plus this
/// replica's skew; a seeded generator), so a run replays exactly.
final class SimReplica {
    let index: Int
    let device: DeviceID
    let directory: URL
    /// Milliseconds this replica's wall clock is off (clock skew and jumps).
    let skew = Locked<Int64>(0)
    let random: Locked<SeededRandom>
    let world: WorldClock
    private(set) var store: Store?
    /// Bumped at each open: store work asked of an earlier open never happens.
    private(set) var epoch = 0
    /// Until when (virtual ms) its disk is full (`World.maybeFillDisk`); 0: not.
    var diskFullUntil: UInt64 = 0
    var diskFull: Bool { diskFullUntil > 0 }
    /// Its daemon's retries of a fold a full disk stopped (`KeptAsideFolds`):
    /// the schedule (with the files it retries) and when the next is due
    /// (virtual ms); a restart resets them.
    var foldRetry = KeptAsideRetry()
    var foldRetryDue: UInt64?
    var name: String { "r\(index)" }

    init(index: Int, device: DeviceID, directory: URL, random: SeededRandom, world: WorldClock) {
        self.index = index
        self.device = device
        self.directory = directory
        self.random = Locked(random)
        self.world = world
    }

    var path: String { directory.appendingPathComponent("data.db").path }

    /// This replica's wall clock: virtual time plus its skew.
    var wallClock: @Sendable () -> UInt64 {
        let world = self.world, skew = self.skew
        return {
            let now = Int64(world.wallMillis) + skew.withLock { $0 }
            return UInt64(max(1, now))
        }
    }

    var options: Store.Options {
        var options = Store.Options()
        let random = self.random
        options.wallClock = wallClock
        options.random = { random.withLock { $0.next() } }
        options.logger.logLevel = .critical
        return options
    }

    /// Opens (or reopens, after a crash) the store.
    func open() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var options = self.options
        options.holdsUseLock = true
        let opened = try Store(path: path, deviceID: device.description, options: options)
        store = opened
        // What a daemon's start does before its sessions (`SyncNode`): a
        // join's staging copy a crash left becomes a database kept aside.
        try opened.takeUpLeftoverJoinCopies(logger: options.logger)
        // A restart does not empty a full disk.
        if diskFull { try opened.capFileGrowth(true) }
        epoch += 1
        foldRetry = KeptAsideRetry()
        foldRetryDue = nil
    }

    /// A crash: the store object is dropped without a goodbye. Work it had
    /// been asked for and not yet done never happens (a transaction that
    /// had not committed rolls back).
    func crash() { store = nil }

    /// The data directory, as `syncctl snapshot restore` sees it.
    var dataDirectory: DataDirectory { DataDirectory(url: directory) }

    var isUp: Bool { store != nil }
}

/// A value shared with the stores' closures (they are `@Sendable`).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}

/// Virtual time, readable from the stores' clock closures.
final class WorldClock: Sendable {
    private let millis = Mutex<UInt64>(0)
    /// Wall time at virtual time 0 (2026-01-01).
    static let epoch: UInt64 = 1_767_225_600_000

    var now: UInt64 { millis.withLock { $0 } }
    var wallMillis: UInt64 { Self.epoch + now }
    func set(_ time: UInt64) { millis.withLock { $0 = time } }
}
