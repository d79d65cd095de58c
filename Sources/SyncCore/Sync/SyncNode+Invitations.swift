import Foundation
import Logging
import NIOCore

/// Invitations on the wire (replication-model §6.2, docs/protocol.md
/// "Invitations"): the inviter judges a claim and adds the joiner to its
/// config; the joiner records the inviter's answer.
extension SyncNode {
    /// The answer a refused claim gets in its goodbye; the joiner recognises
    /// it and stops sending the claim.
    static let claimRefusedPrefix = "invitation refused: "

    /// Judges a claim on an inbound connection; `lineage` is the joiner's
    /// (from the hello it sent behind the claim). Accepted: the invitation is
    /// marked used, the device added to the config (mode and name from the
    /// invitation) and taken off probation. Refused: counted, logged,
    /// answered with a goodbye; throws. Judging reads the cached book and
    /// writes nothing; only an accepted claim takes the file's lock. A good
    /// claim from a device of another dataset is refused without using the
    /// invitation up, and only after the secret was checked, so that no one
    /// without a valid code learns this daemon's lineage.
    func judgeClaim(id: [UInt8], secret: [UInt8], lineage joinerLineage: String, connection: ConnectionContext,
                    outbound: NIOAsyncChannelOutboundWriter<SyncMessage>) async throws {
        guard let device = connection.device else { throw SessionError.refused("no device") }
        let now = Date()
        let idText = Hex.encode(Array(id.prefix(InvitationCode.idBytes)))
        let file = invitations.file
        let verdict = invitations.fresh.judge(id: id, secret: secret, device: device, now: now)
        func refuse(_ refusal: InvitationBook.Refusal, detail: String? = nil) async throws -> Never {
            countRefusedClaim(refusal)
            logger.warning("refused an invitation claim", metadata: [
                "device": "\(device)", "remote": "\(connection.remote)", "invitation": "\(idText)", "reason": "\(refusal.rawValue)",
                "detail": "\(detail ?? refusal.explanation)"])
            let reason = Self.claimRefusedPrefix + (detail ?? refusal.explanation)
            try? await outbound.write(.goodbye(reason: reason))
            throw SessionError.refused(reason)
        }
        if case .accepted = verdict, let reason = HelloRules.lineageRefusal(theirs: joinerLineage, ours: lineage) {
            try await refuse(.otherDataset, detail: reason)
        }
        if configBox.config.peer(device) != nil {
            // A peer already (added by hand, or its first answer was lost):
            // a good claim still uses the invitation up, so the code cannot
            // admit anyone else; a bad one is not its business any more.
            if case .accepted = verdict {
                _ = try? await Blocking.run { try file.update { $0.claim(id: id, secret: secret, device: device, now: now) } }
                invitations.reload()
            }
            connection.onProbation = false
            return
        }
        if case .refused(let refusal) = verdict { try await refuse(refusal) }
        // Under the lock: another connection may have used it meanwhile.
        let marked = try await Blocking.run { try file.update { $0.claim(id: id, secret: secret, device: device, now: now) } }
        invitations.reload()
        guard case .accepted(let invitation) = marked else {
            if case .refused(let refusal) = marked { try await refuse(refusal) }
            return
        }
        let peer: PeerConfig
        do {
            peer = try await addInvitedPeer(device, invitation: invitation, certificateName: connection.certificateName ?? "")
        } catch {
            // Not admitted after all: the invitation is free again and the
            // joiner keeps its claim (this goodbye does not refuse it).
            _ = try? await Blocking.run { try file.update { $0.release(id: id, device: device) } }
            invitations.reload()
            logger.error("accepted an invitation claim but cannot add the device to the config; the invitation stays open", metadata: [
                "device": "\(device)", "invitation": "\(idText)", "error": "\(error)"])
            try? await outbound.write(.goodbye(reason: "the inviter cannot save its config now; the invitation is still valid, try again later"))
            throw SessionError.refused("cannot add the invited device to the config: \(error)")
        }
        connection.onProbation = false
        logger.notice("invitation accepted: the device is a peer now", metadata: [
            "device": "\(device)", "peer": "\(peer.name)", "mode": "\(peer.mode.rawValue)", "invitation": "\(idText)"])
    }

    /// Refused claims since start, by reason (`syncctl status`).
    public var refusedClaims: [String: Int] { claimRefusals.withLock { $0 } }

    private func countRefusedClaim(_ refusal: InvitationBook.Refusal) {
        claimRefusals.withLock { $0[refusal.rawValue, default: 0] += 1 }
        metrics.refusedInvitation(reason: refusal.rawValue)
    }

    /// Adds the joiner to the config file (other lines untouched) and to
    /// the running config, and drops it from the pending devices.
    private func addInvitedPeer(_ device: DeviceID, invitation: Invitation, certificateName: String) async throws -> PeerConfig {
        guard let configPath else {
            throw SessionError.refused("this daemon was started without a config file it can write; add the device with `syncctl peers add`")
        }
        let pendingFile = pending.file
        let added: PeerConfig = try await Blocking.run {
            let editor = PeerListEditor(path: configPath, defaults: DaemonConfig.machineDefaults())
            let peer = try editor.updatePeers { peers in
                let preferred = invitation.name ?? certificateName
                let peer = PeerConfig(deviceID: device, name: PeerConfig.uniqueName(preferred, for: device, among: peers), address: nil, mode: invitation.mode)
                peers.removeAll { $0.deviceID == device }
                peers.append(peer)
                return peer
            }
            try? pendingFile.update { $0.remove(device.description) }
            return peer
        }
        var config = configBox.config
        config.peers.removeAll { $0.deviceID == device }
        config.peers.append(added)
        configBox.replace(config)
        return added
    }

    /// Records the inviter's answer to our claim: its hello (accepted) or a
    /// goodbye that refuses the invitation (the claim is not sent again).
    func settleClaim(with inviter: DeviceID, answer: SyncMessage) async throws {
        let claims = joinClaims
        let now = Date()
        switch answer {
        case .hello:
            try await Blocking.run { try claims.update { $0.settle(inviter, acceptedAt: now, refusal: nil) } }
            logger.notice("joined: the inviter accepted the invitation", metadata: ["inviter": "\(inviter)"])
        case .goodbye(let reason) where reason.hasPrefix(Self.claimRefusedPrefix):
            let refusal = String(reason.dropFirst(Self.claimRefusedPrefix.count))
            try await Blocking.run { try claims.update { $0.settle(inviter, acceptedAt: nil, refusal: refusal) } }
            let advice = refusal.hasPrefix(HelloRules.lineageRefusalLead)
                ? "the inviter holds another dataset; join it from a data directory started on its schema (`syncctl init --schema FILE`)"
                : "ask for a new one (`syncctl invite` on its machine)"
            logger.error("the inviter refused the invitation; \(advice)", metadata: [
                "inviter": "\(inviter)", "reason": "\(SessionError.bounded(reason))"])
        default:
            break
        }
    }
}
