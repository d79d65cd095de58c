import Crypto
import Foundation

/// One invitation as the inviter keeps it (`invitations.json`): the secret
/// only as its SHA-256, never the secret itself.
public struct Invitation: Codable, Sendable, Equatable {
    /// Hex of the public invitation id.
    public var id: String
    /// Hex of SHA-256(secret).
    public var secretHash: String
    /// The mode the joiner gets in the inviter's config.
    public var mode: PeerMode
    /// The name the joiner gets (nil: the name its hello gives).
    public var name: String?
    public var createdAt: Date
    public var expiresAt: Date
    /// The device that used it, and when: an invitation admits one device.
    public var usedBy: String?
    public var usedAt: Date?
}

/// The inviter's invitations (pure; replication-model §6.2): creating one,
/// judging a claim, and what the TLS handshake may admit meanwhile.
///
/// A claim is accepted when its id names an invitation, the secret hashes to
/// the stored hash (compared in constant time), the invitation has not
/// expired, and no other device used it. The device that used it may claim
/// again (its first answer may have been lost); any other is refused.
/// Bounded: at most `maxInvitations` kept, records dropped `retention` after
/// they expire or are used. Judging writes nothing: only an accepted claim
/// changes the book, so a stranger's claims cost the inviter no file write.
public struct InvitationBook: Codable, Sendable, Equatable {
    public private(set) var invitations: [Invitation] = []

    public static let maxInvitations = 100
    /// How long an expired or used invitation is kept: a late claim is then
    /// refused with its real reason ("used", "expired") and counted.
    public static let retention: TimeInterval = 7 * 86_400
    /// The default lifetime of an invitation (`syncctl invite --expires`).
    public static let defaultLifetime: TimeInterval = 86_400
    public static let maxLifetime: TimeInterval = 30 * 86_400

    public init() {}

    public enum Refusal: String, Sendable, Equatable, CaseIterable {
        case unknown = "unknown-invitation"
        case used = "already-used"
        case expired
        case wrongSecret = "wrong-secret"
        case malformed
        /// A good claim from a device of another dataset (lineage); the
        /// invitation stays open. Not a verdict of `judge`: `SyncNode` adds it.
        case otherDataset = "other-dataset"

        public var explanation: String {
            switch self {
            case .otherDataset: "the joining device holds another dataset (another seed schema)"
            case .unknown: "no such invitation (cancelled, or made on another machine)"
            case .used: "the invitation was already used by another device; invitations are single-use"
            case .expired: "the invitation expired"
            case .wrongSecret: "wrong secret"
            case .malformed: "malformed claim"
            }
        }
    }

    public enum Verdict: Equatable, Sendable {
        case accepted(Invitation)
        case refused(Refusal)
    }

    /// Adds an invitation; false when `maxInvitations` open ones exist.
    public mutating func add(id: [UInt8], secret: [UInt8], mode: PeerMode, name: String?, now: Date, lifetime: TimeInterval) -> Bool {
        prune(now: now)
        guard invitations.count < Self.maxInvitations else { return false }
        invitations.append(Invitation(id: Hex.encode(id), secretHash: Hex.encode(Array(SHA256.hash(data: secret))), mode: mode,
                                      name: name.map { PendingDeviceList.clean($0, limit: PendingDeviceList.maxNameCharacters) },
                                      createdAt: now, expiresAt: now.addingTimeInterval(min(lifetime, Self.maxLifetime)),
                                      usedBy: nil, usedAt: nil))
        return true
    }

    /// Judges a claim by `device` without changing anything.
    public func judge(id: [UInt8], secret: [UInt8], device: DeviceID, now: Date) -> Verdict {
        guard id.count == InvitationCode.idBytes, secret.count == InvitationCode.secretBytes else { return .refused(.malformed) }
        let idHex = Hex.encode(id)
        guard let invitation = invitations.first(where: { $0.id == idHex }) else { return .refused(.unknown) }
        guard Self.constantTimeEqual(Array(Hex.encode(Array(SHA256.hash(data: secret))).utf8), Array(invitation.secretHash.utf8)) else {
            return .refused(.wrongSecret)
        }
        if let usedBy = invitation.usedBy { return usedBy == device.description ? .accepted(invitation) : .refused(.used) }
        guard now < invitation.expiresAt else { return .refused(.expired) }
        return .accepted(invitation)
    }

    /// Judges a claim and, accepted, marks the invitation used by `device`.
    public mutating func claim(id: [UInt8], secret: [UInt8], device: DeviceID, now: Date) -> Verdict {
        let verdict = judge(id: id, secret: secret, device: device, now: now)
        guard case .accepted(let invitation) = verdict, invitation.usedBy == nil,
              let index = invitations.firstIndex(where: { $0.id == invitation.id }) else { return verdict }
        invitations[index].usedBy = device.description
        invitations[index].usedAt = now
        return .accepted(invitations[index])
    }

    /// Undoes `claim` for `device` (its admission could not be completed).
    public mutating func release(id: [UInt8], device: DeviceID) {
        let idHex = Hex.encode(id)
        for index in invitations.indices where invitations[index].id == idHex && invitations[index].usedBy == device.description {
            invitations[index].usedBy = nil
            invitations[index].usedAt = nil
        }
    }

    /// Whether the handshake should let an unknown device in to make a claim:
    /// while any invitation is kept (open, or closed within `retention`, so
    /// that a late claim is refused with its reason rather than at TLS).
    public func admitsUnknownDevices(now: Date) -> Bool {
        invitations.contains { Self.keeps($0, now: now) }
    }

    /// Invitations that can still be used.
    public func open(now: Date) -> [Invitation] { invitations.filter { $0.usedBy == nil && now < $0.expiresAt } }

    /// Removes an invitation by its id or a prefix of it (unique); the removed one.
    public mutating func cancel(_ idPrefix: String) -> Invitation? {
        let matches = invitations.indices.filter { invitations[$0].id.hasPrefix(idPrefix.lowercased()) }
        guard matches.count == 1, !idPrefix.isEmpty else { return nil }
        return invitations.remove(at: matches[0])
    }

    public mutating func prune(now: Date) {
        invitations.removeAll { !Self.keeps($0, now: now) }
    }

    static func keeps(_ invitation: Invitation, now: Date) -> Bool {
        let closed = invitation.usedAt ?? invitation.expiresAt
        return now.timeIntervalSince(min(closed, invitation.expiresAt)) < Self.retention
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// `invitations.json` in the data directory (mode 0600).
public typealias InvitationFile = LockedJSONFile<InvitationBook>

extension LockedJSONFile where Content == InvitationBook {
    public init(directory: URL) {
        self.init(path: directory.appendingPathComponent("invitations.json").path, permissions: 0o600, empty: { InvitationBook() })
    }
}

/// What `syncctl join` leaves for the joiner's daemon: the secret to prove to
/// one inviter at the next connection (`join-claims.json`, mode 0600).
public struct JoinClaim: Codable, Sendable, Equatable {
    public var inviter: String
    public var invitationID: String
    public var secret: String
    public var createdAt: Date
    public var expiresAt: Date
    /// Set when the inviter accepted (its hello followed the claim).
    public var acceptedAt: Date?
    /// The inviter's reason, when it refused; the claim is not sent again.
    public var refusal: String?
}

public struct JoinClaimList: Codable, Sendable, Equatable {
    public private(set) var claims: [JoinClaim] = []
    public static let maxClaims = 32

    public init() {}

    public mutating func add(_ code: InvitationCode, now: Date) {
        claims.removeAll { $0.inviter == code.inviter.description }
        claims.append(JoinClaim(inviter: code.inviter.description, invitationID: Hex.encode(code.invitationID),
                                secret: Hex.encode(code.secret), createdAt: now, expiresAt: code.expires, acceptedAt: nil, refusal: nil))
        if claims.count > Self.maxClaims { claims.removeFirst(claims.count - Self.maxClaims) }
    }

    /// The claim to send to `inviter`, if one is waiting: (id, secret).
    public func pending(for inviter: DeviceID) -> (id: [UInt8], secret: [UInt8])? {
        guard let claim = claims.first(where: { $0.inviter == inviter.description && $0.acceptedAt == nil && $0.refusal == nil }),
              let id = Hex.decode(claim.invitationID), let secret = Hex.decode(claim.secret) else { return nil }
        return (id, secret)
    }

    public func claim(for inviter: DeviceID) -> JoinClaim? { claims.first { $0.inviter == inviter.description } }

    public mutating func settle(_ inviter: DeviceID, acceptedAt: Date?, refusal: String?) {
        for index in claims.indices where claims[index].inviter == inviter.description && claims[index].acceptedAt == nil {
            claims[index].acceptedAt = acceptedAt
            claims[index].refusal = refusal.map { PendingDeviceList.clean($0, limit: 300) }
            // The secret is of no more use: it is not kept.
            claims[index].secret = ""
        }
    }
}

public typealias JoinClaimFile = LockedJSONFile<JoinClaimList>

extension LockedJSONFile where Content == JoinClaimList {
    public init(directory: URL) {
        self.init(path: directory.appendingPathComponent("join-claims.json").path, permissions: 0o600, empty: { JoinClaimList() })
    }
}
