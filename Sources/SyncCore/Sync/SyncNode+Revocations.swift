import Foundation
import Logging

/// Team-CA revocations (replication-model §6.3, docs/operations.md "A stolen
/// laptop"): checked against our CA, kept, obeyed at once, and passed on to
/// every peer (each session relays the list when it changes).
extension SyncNode {
    /// Bumped when the held revocations change; sessions relay the list then.
    var revocationGeneration: Int { revocationState.withLock { $0.generation } }
    /// Revocations refused since start (bad signature, or another CA's).
    public var refusedRevocations: UInt64 { revocationState.withLock { $0.refused } }

    /// Checks revocations a peer passed on and keeps the good new ones.
    func takeRevocations(_ list: [SignedRevocation], from peer: String) async {
        let held = revocations.current
        let fresh = list.filter { !held.holds($0) }
        guard !fresh.isEmpty else { return }
        guard let ca = teamCA.current(path: configBox.config.teamCA) else {
            logger.info("a peer passed on revocations, but no team CA is configured to check them: not kept", metadata: [
                "peer": "\(peer)", "count": "\(fresh.count)"])
            return
        }
        var good: [SignedRevocation] = []
        for revocation in fresh {
            switch revocation.check(against: ca.certificate) {
            case .valid:
                good.append(revocation)
            case .otherCA:
                refuseRevocation(revocation, from: peer, reason: "signed by another CA than this daemon's team CA")
            case .badSignature:
                refuseRevocation(revocation, from: peer, reason: "bad signature")
            }
        }
        guard !good.isEmpty else { return }
        await keep(good, from: peer)
    }

    /// Reads the revocations again after `syncctl ca revoke` wrote one here,
    /// closes the revoked devices' sessions and relays the list.
    public func enforceRevocations() async {
        revocations.reload()
        revocationState.withLock { $0.generation += 1 }
        await closeSessions(of: revocations.current.revocations.map(\.device), why: "revoked by the team CA")
    }

    private func keep(_ good: [SignedRevocation], from peer: String) async {
        let file = revocations.file
        let added: [SignedRevocation]
        do {
            added = try await Blocking.run { try file.update { list in good.filter { list.add($0) } } }
        } catch {
            logger.error("cannot save revocations; they are obeyed from the next time a peer passes them", metadata: ["error": "\(error)"])
            return
        }
        revocations.reload()
        guard !added.isEmpty else { return }
        revocationState.withLock { $0.generation += 1 }
        for revocation in added {
            logger.notice("a device was revoked by the team CA: disconnected and refused from now on", metadata: [
                "device": "\(revocation.device)", "reason": "\(revocation.reason)", "revoked_at": "\(revocation.revokedAt)", "via": "\(peer)"])
        }
        await closeSessions(of: added.map(\.device), why: "revoked by the team CA")
    }

    private func refuseRevocation(_ revocation: SignedRevocation, from peer: String, reason: String) {
        revocationState.withLock { $0.refused += 1 }
        metrics.refusedRevocation()
        logger.warning("refused a revocation", metadata: ["peer": "\(peer)", "device": "\(revocation.device)", "reason": "\(reason)"])
    }
}
