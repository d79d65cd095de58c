import Foundation
import PropertyBased
import Testing
@testable import SyncCore

/// The inviter's rules: one device per invitation, expiry, the secret's hash,
/// counted refusals, and what the handshake may admit.
@Suite("Invitation book")
struct InvitationBookTests {
    static let start = Date(timeIntervalSince1970: 1_000_000)
    static let id: [UInt8] = Array(1...8)
    static let secret: [UInt8] = Array(10..<26)
    static func device(_ index: Int) -> DeviceID { DeviceID(spki: Array("device \(index)".utf8)) }

    static func book(lifetime: TimeInterval = 3_600) -> InvitationBook {
        var book = InvitationBook()
        let added = book.add(id: id, secret: secret, mode: .receiveOnly, name: "bo", now: start, lifetime: lifetime)
        #expect(added)
        return book
    }

    @Test func theSecretIsKeptOnlyAsAHash() throws {
        let book = Self.book()
        let stored = String(decoding: try JSONEncoder().encode(book), as: UTF8.self)
        #expect(!stored.contains(Hex.encode(Self.secret)))
        #expect(book.invitations[0].secretHash.count == 64)
    }

    @Test func oneDeviceMayUseIt() {
        var book = Self.book()
        let first = book.claim(id: Self.id, secret: Self.secret, device: Self.device(1), now: Self.start.addingTimeInterval(10))
        guard case .accepted(let invitation) = first else { Issue.record("\(first)"); return }
        #expect(invitation.mode == .receiveOnly && invitation.name == "bo" && invitation.usedBy == Self.device(1).description)
        // Its own second claim (the first answer lost) is accepted again; another device's is not.
        let verdict1 = book.claim(id: Self.id, secret: Self.secret, device: Self.device(1), now: Self.start.addingTimeInterval(20))
        #expect(verdict1 == .accepted(book.invitations[0]))
        let verdict2 = book.claim(id: Self.id, secret: Self.secret, device: Self.device(2), now: Self.start.addingTimeInterval(30))
        #expect(verdict2 == .refused(.used))
        // Undone (its admission failed), the invitation is free for the next claim.
        book.release(id: Self.id, device: Self.device(1))
        #expect(book.open(now: Self.start).count == 1)
        let after = book.claim(id: Self.id, secret: Self.secret, device: Self.device(2), now: Self.start.addingTimeInterval(40))
        #expect(after == .accepted(book.invitations[0]) && book.invitations[0].usedBy == Self.device(2).description)
        #expect(book.open(now: Self.start).isEmpty)
    }

    @Test func wrongExpiredUnknownAndMalformedClaimsAreRefusedAndCounted() {
        var book = Self.book()
        var wrong = Self.secret
        wrong[15] ^= 1
        let verdict3 = book.claim(id: Self.id, secret: wrong, device: Self.device(1), now: Self.start)
        #expect(verdict3 == .refused(.wrongSecret))
        let verdict4 = book.claim(id: Array(repeating: 9, count: 8), secret: Self.secret, device: Self.device(1), now: Self.start)
        #expect(verdict4 == .refused(.unknown))
        let verdict5 = book.claim(id: Self.id, secret: Array(Self.secret.prefix(4)), device: Self.device(1), now: Self.start)
        #expect(verdict5 == .refused(.malformed))
        let verdict6 = book.claim(id: Self.id, secret: Self.secret, device: Self.device(1), now: Self.start.addingTimeInterval(3_600))
        #expect(verdict6 == .refused(.expired))
        // Refusals change nothing: a stranger's claim costs no write.
        #expect(book == Self.book())
        #expect(book.judge(id: Self.id, secret: Self.secret, device: Self.device(1), now: Self.start) == .accepted(book.invitations[0]))
        #expect(book.invitations[0].usedBy == nil)
    }

    @Test func theHandshakeAdmitsStrangersOnlyWhileInvitationsAreKept() {
        var book = InvitationBook()
        #expect(!book.admitsUnknownDevices(now: Self.start))
        _ = book.add(id: Self.id, secret: Self.secret, mode: .sendReceive, name: nil, now: Self.start, lifetime: 60)
        #expect(book.admitsUnknownDevices(now: Self.start))
        // Expired, it is kept a while so a late claim hears why; then it goes.
        #expect(book.admitsUnknownDevices(now: Self.start.addingTimeInterval(60 + InvitationBook.retention - 1)))
        #expect(!book.admitsUnknownDevices(now: Self.start.addingTimeInterval(60 + InvitationBook.retention + 1)))
        book.prune(now: Self.start.addingTimeInterval(60 + InvitationBook.retention + 1))
        #expect(book.invitations.isEmpty)
    }

    @Test func boundedAndCancellable() {
        var book = InvitationBook()
        for index in 0..<InvitationBook.maxInvitations {
            let added = book.add(id: [UInt8(index), 0, 0, 0, 0, 0, 0, 0], secret: Self.secret, mode: .sendReceive, name: nil, now: Self.start, lifetime: 60)
        #expect(added)
        }
        let refused = book.add(id: Self.id, secret: Self.secret, mode: .sendReceive, name: nil, now: Self.start, lifetime: 60)
        #expect(!refused)
        let none = book.cancel(""), ambiguous = book.cancel("0"), one = book.cancel("0500")
        #expect(none == nil && ambiguous == nil)
        #expect(one != nil && book.invitations.count == InvitationBook.maxInvitations - 1)
        // Lifetimes are capped.
        var capped = InvitationBook()
        _ = capped.add(id: Self.id, secret: Self.secret, mode: .sendReceive, name: nil, now: Self.start, lifetime: 1e9)
        #expect(capped.invitations[0].expiresAt == Self.start.addingTimeInterval(InvitationBook.maxLifetime))
    }

    @Test func aJoinerSendsItsClaimUntilAnswered() throws {
        let code = InvitationCode(inviter: Self.device(9), inviterName: "hub", addresses: [], invitationID: Self.id, secret: Self.secret,
                                  mode: .sendReceive, expires: Self.start.addingTimeInterval(60))
        var claims = JoinClaimList()
        claims.add(code, now: Self.start)
        let pending = try #require(claims.pending(for: Self.device(9)))
        #expect(pending.id == Self.id && pending.secret == Self.secret)
        #expect(claims.pending(for: Self.device(8)) == nil)
        claims.settle(Self.device(9), acceptedAt: nil, refusal: "expired")
        #expect(claims.pending(for: Self.device(9)) == nil && claims.claim(for: Self.device(9))?.secret == "")
        #expect(claims.claim(for: Self.device(9))?.refusal == "expired")
    }

    @Test func peerNamesStayUnique() {
        let peers = [PeerConfig(deviceID: Self.device(1), name: "bo", address: nil, mode: .sendReceive)]
        #expect(PeerConfig.uniqueName("bo", for: Self.device(1), among: peers) == "bo")
        #expect(PeerConfig.uniqueName("bo", for: Self.device(2), among: peers) == "bo-\(Self.device(2).short.prefix(4))")
        #expect(PeerConfig.uniqueName("ana desk\n", for: Self.device(2), among: peers) == "ana-desk")
        #expect(PeerConfig.uniqueName("", for: Self.device(2), among: peers) == Self.device(2).short)
    }

    /// Any sequence of claims (right and wrong secrets, several devices, any
    /// time, with releases and cancellations between): an invitation is
    /// never held by two devices, never first taken after it expired, and
    /// judging alone never changes the book.
    @Test func anySequenceOfClaimsAdmitsAtMostOneDeviceInTime() async {
        let step = zip(Gen.int(in: 0...5), Gen.int(in: 0...3), Gen.int(in: 0...7_200))
        await propertyCheck(count: 300, input: step.array(of: 1...40)) { steps in
            var book = Self.book(lifetime: 3_600)
            var holder: DeviceID?
            for (kind, device, seconds) in steps {
                let now = Self.start.addingTimeInterval(Double(seconds))
                var secret = Self.secret
                if kind == 1 { secret[0] ^= 1 }
                let before = book
                let judged = book.judge(id: Self.id, secret: secret, device: Self.device(device), now: now)
                #expect(book == before)
                switch kind {
                case 4:
                    if let current = holder, current == Self.device(device) {
                        book.release(id: Self.id, device: current)
                        holder = nil
                    }
                default:
                    let verdict = book.claim(id: Self.id, secret: secret, device: Self.device(device), now: now)
                    #expect(verdict == judged || { if case .accepted = verdict, case .accepted = judged { true } else { false } }())
                    if case .accepted = verdict {
                        #expect(kind != 1)
                        if let holder { #expect(holder == Self.device(device)) } else { #expect(now < Self.start.addingTimeInterval(3_600)) }
                        holder = Self.device(device)
                    }
                }
                #expect(book.invitations.count == 1)
                #expect(book.invitations[0].usedBy == holder?.description)
            }
        }
    }
}
