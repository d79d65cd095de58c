import Foundation
import PropertyBased
import Testing
@testable import SyncCore

/// The pure rules of joining by snapshot (replication-model §4.6), searched
/// over random inputs: the transfer ends whole or not at all, whatever a
/// sender does; two replicas never both ask each other; a third replica
/// never starts reading a joined one past what it holds.
@Suite("Join rules", .timeLimit(.minutes(3)))
struct JoinRulesTests {
    /// An honest sender: every pull the receiver makes is served in order,
    /// and the receiver ends with every byte, asking each offset once and
    /// never more than two chunks ahead.
    @Test func anHonestTransferEndsWhole() async {
        await propertyCheck(count: 300, input: Gen.int(in: 1...5_000_000), Gen.int(in: 1...(1 << 20))) { total, chunk in
            var receiver = JoinRules.Receiver(chunkBytes: UInt32(chunk), maxTotal: 1 << 30)
            var sender = JoinRules.Sender()
            var asked = receiver.start()
            var served = 0
            var outcome: JoinRules.Receiver.Verdict?
            while outcome == nil, !asked.isEmpty {
                #expect(asked.count <= 2)
                // What a joiner giving up here would read and drop: the pulls still unanswered.
                #expect(receiver.inFlight == asked.count)
                let offset = asked.removeFirst()
                guard case .success(let range) = sender.serve(offset: offset, maxBytes: UInt32(chunk), total: UInt64(total)) else {
                    Issue.record("the sender refused pull \(offset)")
                    return
                }
                served += range.count
                let last = range.upperBound == UInt64(total)
                switch receiver.take(SnapshotChunk(offset: range.lowerBound, total: UInt64(total), data: [UInt8](repeating: 1, count: range.count),
                                                   sha256: last ? [UInt8](repeating: 9, count: 32) : [])) {
                case .take(let next): asked += next
                case let other: outcome = other
                }
            }
            #expect(outcome == .complete(sha256: [UInt8](repeating: 9, count: 32)))
            #expect(served == total && receiver.received == UInt64(total))
            #expect(receiver.inFlight == 0)
        }
    }

    /// A joiner that gives up midway, before sending the pulls a chunk
    /// called for, expects exactly the chunks of the pulls it did send; a
    /// chunk beyond them is a violation (a refusal answers a pull too).
    @Test func givingUpMidwayLeavesTheSentPullsToDrain() async {
        await propertyCheck(count: 300, input: Gen.int(in: 2...2_000_000), Gen.int(in: 1...65_536), Gen.int(in: 0...40)) { total, chunk, stop in
            var receiver = JoinRules.Receiver(chunkBytes: UInt32(chunk), maxTotal: 1 << 30)
            var sent = receiver.start()
            var index = 0
            while let offset = sent.first {
                sent.removeFirst()
                let end = min(UInt64(total), offset + UInt64(chunk))
                let verdict = receiver.take(SnapshotChunk(offset: offset, total: UInt64(total), data: [UInt8](repeating: 0, count: Int(end - offset)),
                                                          sha256: end == UInt64(total) ? [UInt8](repeating: 1, count: 32) : []))
                guard case .take(let next) = verdict else { return }
                if index == stop {
                    receiver.withdraw(next)
                    #expect(receiver.inFlight == sent.count)
                    // The peer answers those, and nothing more.
                    for offset in sent {
                        let end = min(UInt64(total), offset + UInt64(chunk))
                        let verdict = receiver.take(SnapshotChunk(offset: offset, total: UInt64(total), data: [UInt8](repeating: 0, count: Int(end - offset)),
                                                                  sha256: end == UInt64(total) ? [UInt8](repeating: 1, count: 32) : []))
                        if case .take(let more) = verdict { receiver.withdraw(more) }
                    }
                    #expect(receiver.inFlight == 0)
                    #expect(receiver.take(SnapshotChunk(offset: receiver.received, total: UInt64(total), data: [0])) == .violation("a snapshot chunk nobody asked for"))
                    return
                }
                sent += next
                index += 1
            }
        }
    }

    @Test func aRefusalAnswersThePullItRefuses() {
        var receiver = JoinRules.Receiver(chunkBytes: 1_024, maxTotal: 10_000)
        _ = receiver.start()
        #expect(receiver.take(.refused("busy")) == .refused("busy"))
        #expect(receiver.inFlight == 0)
    }

    /// A sender that lies about one chunk (offset, size, total, checksum,
    /// a refusal midway): the receiver calls it a violation (or, for a first
    /// answer that refuses, a refusal) and never counts a byte past the total.
    @Test func aLyingSenderIsCaught() async {
        await propertyCheck(count: 500, input: Gen.int(in: 2...3_000_000), Gen.int(in: 1...65_536), Gen.int(in: 0...6), Gen.int(in: 0...50)) { total, chunk, lie, at in
            var receiver = JoinRules.Receiver(chunkBytes: UInt32(chunk), maxTotal: 1 << 30)
            var asked = receiver.start()
            var index = 0
            var lied = false
            while !asked.isEmpty {
                let offset = asked.removeFirst()
                let end = min(UInt64(total), offset + UInt64(chunk))
                var piece = SnapshotChunk(offset: offset, total: UInt64(total), data: [UInt8](repeating: 0, count: Int(end - offset)),
                                          sha256: end == UInt64(total) ? [UInt8](repeating: 1, count: 32) : [])
                let lying = index == min(at, Int((UInt64(total) - 1) / UInt64(chunk)))
                if lying {
                    switch lie {
                    case 0: piece.offset += 1
                    case 1: piece.data.append(0)
                    case 2: piece.total += 1
                    case 3: piece.sha256 = piece.sha256.isEmpty ? [UInt8](repeating: 1, count: 32) : []
                    case 4: piece = .refused("no")
                    case 5: piece.data.removeLast()
                    default: piece.total = 0
                    }
                }
                index += 1
                lied = lied || lying
                let verdict = receiver.take(piece)
                #expect(receiver.received <= UInt64(total))
                switch verdict {
                case .take(let next):
                    // The first chunk states the size: a wrong one there is
                    // caught by the next chunk, which states the true one.
                    #expect(!lying || (lie == 2 && index == 1), "lie \(lie) at chunk \(index - 1) was taken")
                    asked += next
                case .complete:
                    #expect(!lied, "lie \(lie) completed the transfer")
                    return
                case .refused:
                    #expect(lying && lie == 4 && index == 1)
                    return
                case .violation:
                    #expect(lied)
                    return
                }
            }
        }
    }

    @Test func aSnapshotOverTheLimitIsRefusedBeforeAByteIsTaken() {
        var receiver = JoinRules.Receiver(chunkBytes: 1_024, maxTotal: 10_000)
        _ = receiver.start()
        #expect(receiver.take(SnapshotChunk(offset: 0, total: 10_001, data: [UInt8](repeating: 0, count: 1_024))) ==
                .refused("the snapshot is 10001 bytes, over join.max_snapshot_bytes (10000)"))
        #expect(receiver.received == 0)
    }

    /// A joiner takes a snapshot only with room for it twice (the file, then
    /// its rows in the WAL) and for the copy of its own database it keeps
    /// aside; sizes near the top of the range do not wrap round to "room enough".
    @Test func aJoinerNeedsRoomForTheSnapshotTwiceAndItsOwnDatabase() async {
        #expect(JoinRules.joinerSpaceShortfall(snapshotBytes: 100 << 20, ownDatabaseBytes: 30 << 20, free: 230 << 20) == nil)
        #expect(JoinRules.joinerSpaceShortfall(snapshotBytes: 100 << 20, ownDatabaseBytes: 30 << 20, free: (230 << 20) - 1)
                == "100 MB to receive, as much again to adopt it and 30 MB to keep this database aside, but only 229 MB free here")
        // Free space at the boundary (within 3 bytes of what is needed) and anywhere.
        await propertyCheck(count: 500, input: Gen.uint64(in: 0...UInt64.max >> 1), Gen.uint64(in: 0...UInt64.max >> 1), Gen.int(in: -3...3),
                            Gen.uint64(in: 0...UInt64.max)) { snapshot, own, delta, anywhere in
            let needed: Int128 = Int128(snapshot) * 2 + Int128(own)
            let boundary: Int128 = max(0, needed + Int128(delta))
            for free in [UInt64(clamping: boundary), anywhere] {
                let roomEnough: Bool = Int128(free) >= needed
                let shortfall = JoinRules.joinerSpaceShortfall(snapshotBytes: snapshot, ownDatabaseBytes: own, free: free)
                #expect((shortfall == nil) == roomEnough, "snapshot \(snapshot), own \(own), free \(free)")
            }
        }
    }

    /// The sender serves pulls only in order, from the start, within its chunk limit.
    @Test func theSenderServesPullsInOrderOnly() {
        var sender = JoinRules.Sender()
        #expect((try? sender.serve(offset: 100, maxBytes: 100, total: 1_000).get()) == nil)
        #expect((try? sender.serve(offset: 0, maxBytes: 100, total: 1_000).get()) == 0..<100)
        #expect((try? sender.serve(offset: 0, maxBytes: 100, total: 1_000).get()) == nil)
        var fresh = JoinRules.Sender()
        #expect((try? fresh.serve(offset: 0, maxBytes: UInt32(SyncMessageCodec.maxSnapshotChunkBytes) + 1, total: 1_000).get()) == nil)
        #expect((try? fresh.serve(offset: 0, maxBytes: 0, total: 1_000).get()) == nil)
    }

    static func situation(_ peerHighest: UInt64, _ cursor: UInt64, _ own: UInt64) -> JoinRules.Situation {
        JoinRules.Situation(peerUnderstands: true, peerSends: true, peerHighest: peerHighest, cursor: cursor, ownHighest: own,
                            sqlEditsWaiting: false, failedRecently: false)
    }

    /// Asking means: far enough behind, little of our own; and of two
    /// replicas, at most one asks the other.
    @Test func atMostOneOfTwoAsks() async {
        await propertyCheck(count: 2_000, input: Gen.int(in: 0...2_000_000), Gen.int(in: 0...2_000_000), Gen.int(in: 0...2_000_000), Gen.int(in: 0...2_000_000)) { ha, hb, ca, cb in
            let minBehind: UInt64 = 1_000
            // a's cursor for b is at most b's highest, and b's for a at most a's.
            let aAboutB = JoinRules.decide(Self.situation(UInt64(hb), UInt64(min(ca, hb)), UInt64(ha)), minBehind: minBehind)
            let bAboutA = JoinRules.decide(Self.situation(UInt64(ha), UInt64(min(cb, ha)), UInt64(hb)), minBehind: minBehind)
            #expect(!(aAboutB == .askForSnapshot && bAboutA == .askForSnapshot), "\(ha) \(hb) \(ca) \(cb)")
            if aAboutB == .askForSnapshot {
                let behind = UInt64(hb - min(ca, hb))
                #expect(behind >= minBehind && UInt64(ha) * JoinRules.ownSeqsPerBehind <= behind + JoinRules.ownSeqsPerBehind)
            }
        }
    }

    @Test func everyReasonNotToAskIsHeard() {
        let far = Self.situation(100_000, 0, 100)
        #expect(JoinRules.decide(far, minBehind: 1_000) == .askForSnapshot)
        #expect(JoinRules.decide(far, minBehind: 0) != .askForSnapshot)
        for change in [\JoinRules.Situation.peerUnderstands, \.peerSends] {
            var s = far
            s[keyPath: change] = false
            #expect(JoinRules.decide(s, minBehind: 1_000) != .askForSnapshot)
        }
        for change in [\JoinRules.Situation.sqlEditsWaiting, \.failedRecently] {
            var s = far
            s[keyPath: change] = true
            #expect(JoinRules.decide(s, minBehind: 1_000) != .askForSnapshot)
        }
        #expect(JoinRules.decide(Self.situation(100_000, 0, 30_000), minBehind: 1_000) != .askForSnapshot)
        #expect(JoinRules.decide(Self.situation(100_000, 99_500, 0), minBehind: 1_000) != .askForSnapshot)
    }

    /// A third replica starts reading a joined one no further than the
    /// origin's seq and its own cursor for the origin, all of it when it is
    /// the origin, and from 0 unless what it read of the origin is provably
    /// the feed the joined one holds (read before the origin wrote past the
    /// snapshot, or read to the origin's end).
    @Test func aThirdReplicaNeverStartsPastWhatItHolds() async {
        await propertyCheck(count: 1_000, input: Gen.int(in: 1...1_000_000), Gen.int(in: 0...1_000_000), Gen.int(in: -1...1_000_000), Gen.bool) { seq, cursor, highest, isOrigin in
            let own = ReplicaID(high: 1, low: 1), other = ReplicaID(high: 2, low: 2)
            let origin = JoinOrigin(replica: isOrigin ? own : other, seq: UInt64(seq))
            let then: UInt64? = highest < 0 ? nil : UInt64(max(highest, cursor))
            let start = JoinRules.initialCursor(origin: origin, ownReplica: own, cursorForOrigin: UInt64(cursor), originHighestThen: then)
            #expect(start <= UInt64(seq))
            if isOrigin {
                #expect(start == UInt64(seq))
            } else if let then, then <= UInt64(seq) || UInt64(cursor) >= then {
                #expect(start == min(UInt64(seq), UInt64(cursor)))
            } else {
                #expect(start == 0)
            }
        }
    }
}
