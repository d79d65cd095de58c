import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// A wall clock that the test moves (replication-model §3.2).
private final class TestClock: @unchecked Sendable {  // set between writes on the test's thread only
    var millis: UInt64 = 1_800_000_000_000
}

@Suite("The wall clock jumps back", .timeLimit(.minutes(3)))
struct ClockJumpTests {
    @Test func aSmallJumpBackKeepsOrderAndAnHourBackIsRefusedUntilTheClockIsRight() throws {
        let dir = TemporaryDirectory()
        let clock = TestClock()
        var options = Store.Options()
        options.wallClock = { clock.millis }
        let store = try dir.store(options: options)
        let ref = RecordRef(parsing: "countries/xx")!
        let first = try store.create(ref, [.set("name", .text("first"))], author: "ana")
        // Back five minutes (within the ten-minute cap): the write is stamped after the last.
        clock.millis -= 5 * 60_000
        let second = try store.update(ref, [.set("name", .text("second"))], author: "ana")
        #expect(try #require(second.hlc) > #require(first.hlc))
        // Back an hour: refused with the reason, nothing written.
        clock.millis -= 60 * 60_000
        #expect {
            try store.update(ref, [.set("name", .text("lost?"))], author: "ana")
        } throws: { error in
            (error as? StoreError).map { "\($0)".contains("behind the last change") } ?? false
        }
        #expect(try store.record(ref)?.value("name") == .text("second"))
        // Received changes are still merged meanwhile (the daemon keeps syncing).
        let peer = try dir.store("peer.db")
        try peer.create(RecordRef(parsing: "countries/yy")!, [.set("name", .text("from a peer"))], author: "bo")
        _ = try pull(into: store, from: peer)
        #expect(try store.record(RecordRef(parsing: "countries/yy")!)?.value("name") == .text("from a peer"))
        // The clock is set right: writes go on, ordered after everything before.
        clock.millis += 65 * 60_000
        let third = try store.update(ref, [.set("name", .text("third"))], author: "ana")
        #expect(try #require(third.hlc) > #require(second.hlc))
        #expect(try store.record(ref)?.value("name") == .text("third"))
    }
}
