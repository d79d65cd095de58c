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
        // A second open of the file is another claim, even in this process (flock).
        #expect(throws: DaemonLockError.held(directory: dir.url.path, pid: getpid())) { try DaemonLock(directory: dir.url) }
        let message = "\(DaemonLockError.held(directory: dir.url.path, pid: getpid()))"
        #expect(message.contains("pid \(getpid())") && message.contains("--data-dir"))
        _ = first
        first = nil
        let second = try DaemonLock(directory: dir.url)
        _ = second
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
