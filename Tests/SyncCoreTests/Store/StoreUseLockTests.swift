import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// A restore never renames a file over a database another store has open,
/// and no store opens the database while a restore replaces it (`StoreUseLock`).
@Suite("The store's use lock keeps restores and open stores apart", .timeLimit(.minutes(2)))
struct StoreUseLockTests {
    func prepared() throws -> (dir: TemporaryDirectory, data: DataDirectory, snapshot: URL) {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let snapshot = dir.url.appendingPathComponent("s.syncsnap")
        let (store, _) = try data.openStore(deviceID: "DEV-A")
        try Snapshots.create(from: store, to: snapshot)
        try store.create(ref("countries/xx"), [.set("name", .text("after the snapshot"))], author: "ana")
        return (dir, data, snapshot)
    }

    @Test func aRestoreIsRefusedWhileAStoreHasTheDatabaseOpenAndChangesNothing() throws {
        let (dir, data, snapshot) = try prepared()
        defer { withExtendedLifetime(dir) {} }
        for readOnly in [false, true] {
            var options = Store.Options()
            options.readOnly = readOnly
            let (open, _) = try data.openStore(deviceID: "DEV-A", options: options)
            let replica = try open.replicaID
            #expect(throws: StoreUseLockError.inUse(directory: data.path)) {
                try Snapshots.restore(snapshot, into: data, deviceID: "DEV-A")
            }
            #expect(try open.replicaID == replica)
            #expect(try open.record(ref("countries/xx"))?.exists == true)
            let left = try FileManager.default.contentsOfDirectory(atPath: data.path)
            #expect(!left.contains { $0.hasPrefix(Snapshots.keptAsidePrefix) || $0.hasSuffix(".restoring") }, "\(left)")
        }
        // Closed: the restore goes ahead.
        let outcome = try Snapshots.restore(snapshot, into: data, deviceID: "DEV-A")
        let (replica, aside) = (outcome.replica, outcome.keptAside)
        #expect(aside != nil)
        #expect(try data.openStore(deviceID: "DEV-A").store.replicaID == replica)
    }

    @Test func noStoreOpensTheDatabaseWhileARestoreHoldsTheLock() throws {
        let (dir, data, _) = try prepared()
        defer { withExtendedLifetime(dir) {} }
        do {
            let restoring = try StoreUseLock(directory: data.url, mode: .exclusive)
            for readOnly in [false, true] {
                var options = Store.Options()
                options.readOnly = readOnly
                #expect(throws: StoreUseLockError.beingReplaced(directory: data.path)) {
                    try data.openStore(deviceID: "DEV-A", options: options)
                }
            }
            // A second restore is refused too.
            #expect(throws: StoreUseLockError.inUse(directory: data.path)) {
                try StoreUseLock(directory: data.url, mode: .exclusive)
            }
            // A copy or scratch file (no use lock asked) opens as before.
            _ = try Store(path: data.databasePath, deviceID: "DEV-A")
            withExtendedLifetime(restoring) {}
        }
        // Released: stores open again, and several hold it together.
        let first = try data.openStore(deviceID: "DEV-A").store
        let second = try data.openStore(deviceID: "DEV-A").store
        #expect(try first.replicaID == second.replicaID)
    }

    @Test func theStoresOfOneProcessShareOneLock() throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(url: dir.url.appendingPathComponent("data"))
        let first = try data.openStore(deviceID: "DEV-A").store
        var second: Store? = try data.openStore(deviceID: "DEV-A").store
        #expect(first.useLock != nil && first.useLock === second?.useLock)
        // One store released: the other's lock still keeps a restore out.
        second = nil
        #expect(throws: StoreUseLockError.inUse(directory: data.path)) {
            try StoreUseLock(directory: data.url, mode: .exclusive)
        }
        withExtendedLifetime(first) {}
    }

    @Test func theMessagesSayWhatToDo() {
        #expect(StoreUseLockError.beingReplaced(directory: "/d").description.contains("try again when it is done"))
        #expect(StoreUseLockError.inUse(directory: "/d").description.contains("fuser -v /d/store.lock"))
        #expect(StoreUseLockError.cannotOpen(path: "/d/store.lock", reason: "x", code: EACCES).description.contains("owner and permissions"))
        #expect(StoreUseLockError.cannotOpen(path: "/d/store.lock", reason: "x", code: ENOLCK).description.contains("local file system"))
    }
}
