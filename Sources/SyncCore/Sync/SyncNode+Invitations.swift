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

    /// Judges a claim on an inbound connection. Accepted: the device is added
    /// to the config (mode and name from the invitation) and leaves
    /// probation. Refused: counted, logged, answered with a goodbye; throws.
    func judgeClaim(id: [UInt8], secret: [UInt8], connection: ConnectionContext,
                    outbound: NIOAsyncChannelOutboundWriter<SyncMessage>) async throws {
        guard let device = connection.device else { throw SessionError.refused("no device") }
        // A joiner whose acceptance it did not hear claims again: it is a peer now.
        if configBox.config.peer(device) != nil { return }
        let file = invitations.file
        let now = Date()
        let verdict = try await Blocking.run { try file.update { $0.claim(id: id, secret: secret, device: device, now: now) } }
        invitations.reload()
        let idText = InvitationBook.hex(Array(id.prefix(InvitationCode.idBytes)))
        switch verdict {
        case .refused(let refusal):
            metrics.refusedInvitation(reason: refusal.rawValue)
            logger.warning("refused an invitation claim", metadata: [
                "device": "\(device)", "remote": "\(connection.remote)", "invitation": "\(idText)", "reason": "\(refusal.rawValue)"])
            let reason = Self.claimRefusedPrefix + refusal.explanation
            try? await outbound.write(.goodbye(reason: reason))
            throw SessionError.refused(reason)
        case .accepted(let invitation):
            let peer = try await addInvitedPeer(device, invitation: invitation, certificateName: connection.certificateName ?? "")
            connection.onProbation = false
            logger.notice("invitation accepted: the device is a peer now", metadata: [
                "device": "\(device)", "peer": "\(peer.name)", "mode": "\(peer.mode.rawValue)", "invitation": "\(idText)"])
        }
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
            var peers = try editor.load().peers
            let preferred = invitation.name ?? certificateName
            let peer = PeerConfig(deviceID: device, name: PeerConfig.uniqueName(preferred, for: device, among: peers), address: nil, mode: invitation.mode)
            peers.removeAll { $0.deviceID == device }
            peers.append(peer)
            try editor.save(peers)
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
            try await Blocking.run { try claims.update { $0.settle(inviter, acceptedAt: nil, refusal: String(reason.dropFirst(Self.claimRefusedPrefix.count))) } }
            logger.error("the inviter refused the invitation; ask for a new one (`syncctl invite` on its machine)", metadata: [
                "inviter": "\(inviter)", "reason": "\(SessionError.bounded(reason))"])
        default:
            break
        }
    }
}
