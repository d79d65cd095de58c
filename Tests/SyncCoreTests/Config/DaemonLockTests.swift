import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// One daemon per data directory (`DaemonLock`).
@Suite("The data directory's daemon lock")
struct DaemonLockTests {
    @Test func aSecondClaimIsRefusedWithTheHoldersPidUntilTheFirstIsGone() throws {
        let dir = TemporaryDirectory("daemon-lock")
        var first: DaemonLock? = try DaemonLock(directory: dir.url)
        let daemon = DaemonLock.Holder(pid: getpid(), name: DaemonLock.daemonRunning)
        // A second open of the file is another claim, even in this process (flock).
        #expect(throws: DaemonLockError.held(directory: dir.url.path, by: daemon)) { try DaemonLock(directory: dir.url, holder: "syncctl snapshot restore") }
        let message = "\(DaemonLockError.held(directory: dir.url.path, by: daemon))"
        #expect(message.contains("syncd (pid \(getpid()))") && message.contains("stop it first") && message.contains("--data-dir"))
        _ = first
        first = nil
        // Free again; a restore's claim names the restore, and asks to wait for it.
        let restore = try DaemonLock(directory: dir.url, holder: "syncctl snapshot restore")
        let refused = #expect(throws: DaemonLockError.self) { try DaemonLock(directory: dir.url) }
        #expect(refused == .held(directory: dir.url.path, by: .init(pid: getpid(), name: "syncctl snapshot restore")))
        #expect(refused.map { "\($0)".contains("wait until it is done") } == true)
        _ = restore
    }

    @Test func aDirectoryThatCannotHoldTheLockSaysSo() throws {
        let dir = TemporaryDirectory("daemon-lock-missing")
        let missing = dir.url.appendingPathComponent("not-there")
        #expect {
            try DaemonLock(directory: missing)
        } throws: { error in
            guard case .cannotOpen(let path, _) = error as? DaemonLockError else { return false }
            return path.hasSuffix("not-there/\(DaemonLock.fileName)")
        }
    }
}
