import Crypto
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

    /// Refused revocations remembered (by a hash of their bytes), so a peer
    /// that sends them again costs no signature check and no log line.
    static let refusedRevocationMemory = 4_096

    /// Checks revocations a peer passed on and keeps the good new ones.
    /// Signature checks run on the blocking pool; one log line per message.
    func takeRevocations(_ list: [SignedRevocation], from peer: String) async {
        await saveUnsavedRevocations()
        let held = revocations.current
        let seen = refusedRevocationHashes
        let unsaved = Set(revocationState.withLock { $0.unsaved }.map(Self.fingerprint))
        let fresh = list.filter { !held.holds($0) && !seen.contains(Self.fingerprint($0)) && !unsaved.contains(Self.fingerprint($0)) }
        guard !fresh.isEmpty else { return }
        guard let ca = teamCA.current(path: configBox.config.teamCA) else {
            logger.info("a peer passed on revocations, but no team CA is configured to check them: not kept", metadata: [
                "peer": "\(peer)", "count": "\(fresh.count)"])
            return
        }
        let checked = (try? await Blocking.run { fresh.map { ($0, $0.check(against: ca.certificate)) } }) ?? []
        let good = checked.filter { $0.1 == .valid }.map(\.0)
        let bad = checked.filter { $0.1 == .badSignature }.map(\.0)
        let foreign = checked.filter { $0.1 == .otherCA }.map(\.0)
        if !bad.isEmpty || !foreign.isEmpty {
            rememberRefused(bad + foreign)
            metrics.refusedRevocations(bad.count + foreign.count)
            logger.warning("refused a revocation", metadata: [
                "peer": "\(peer)", "bad_signature": "\(bad.count)", "other_ca": "\(foreign.count)",
                "devices": "\((bad + foreign).prefix(3).map(\.device.short).joined(separator: ", "))\(bad.count + foreign.count > 3 ? ", …" : "")",
                "reason": "\(bad.isEmpty ? "signed by another CA than this daemon's team CA" : "bad signature")"])
        }
        guard !good.isEmpty else { return }
        let file = revocations.file
        let results: [(SignedRevocation, RevocationList.Addition)]
        do {
            results = try await Blocking.run { try file.update { list in good.map { ($0, list.add($0)) } } }
        } catch {
            // Checked and good: obeyed and relayed from memory now, saved when the file can be written.
            let kept = revocationState.withLock { state -> [SignedRevocation] in
                let known = Set(state.unsaved.map(Self.fingerprint))
                let new = good.filter { !known.contains(Self.fingerprint($0)) }.prefix(max(0, RevocationList.maxEntries - state.unsaved.count))
                state.unsaved += new
                return Array(new)
            }
            logger.error("cannot save revocations to revocations.json: they are obeyed and passed on from memory, and saved as soon as the file can be written (free disk space, or fix the file); a restart before that forgets them until a peer passes them again", metadata: [
                "error": "\(error)", "count": "\(kept.count)"])
            guard !kept.isEmpty else { return }
            obey(kept, via: peer)
            await closeSessions(of: kept.map(\.device), why: "revoked by the team CA")
            return
        }
        revocations.reload()
        let full = results.filter { $0.1 == .full }.count
        if full > 0 {
            logger.error("the revocation list is full: revocations were not kept", metadata: ["count": "\(full)", "limit": "\(RevocationList.maxEntries)"])
        }
        let added = results.filter { $0.1 == .added }.map(\.0)
        guard !added.isEmpty else { return }
        obey(added, via: peer)
        await closeSessions(of: added.map(\.device), why: "revoked by the team CA")
    }

    /// Reads the revocations again after `syncctl ca revoke` wrote one here,
    /// closes the revoked devices' sessions and relays the list.
    public func enforceRevocations() async {
        revocations.reload()
        await saveUnsavedRevocations()
        let added = teamRevocations.filter { !revocationState.withLock { $0.obeyed }.contains(Self.fingerprint($0)) }
        if !added.isEmpty { obey(added, via: "syncctl ca revoke") }
        // Whatever the file said before, no revoked device keeps a session.
        await closeSessions(of: teamRevocations.map(\.device), why: "revoked by the team CA")
    }

    /// The held revocations signed by the team CA configured now: only
    /// those are obeyed and relayed (`revocations.json` may have been copied
    /// from another team, or kept after `team_ca` changed).
    var teamRevocations: [SignedRevocation] {
        let keyID = teamCA.current(path: configBox.config.teamCA)?.keyID
        let unsaved = revocationState.withLock { $0.unsaved }.filter { keyID != nil && $0.caKeyID == keyID }
        return revocations.current.signed(by: keyID) + unsaved
    }

    /// Whether the team CA configured now revoked the device (kept in the file, or in memory while it cannot be saved).
    func isRevoked(_ device: DeviceID) -> Bool {
        let configured = configBox.config.teamCA
        let keyID = teamCA.current(path: configured)?.keyID
        // A team CA is configured but cannot be read now (damaged, being
        // replaced): fail closed, every held revocation counts.
        if configured != nil, keyID == nil {
            return revocations.current.revocations.contains { $0.device == device }
                || revocationState.withLock { $0.unsaved.contains { $0.device == device } }
        }
        return revocations.current.revokes(device, underCA: keyID)
            || revocationState.withLock { $0.unsaved.contains { $0.device == device && keyID != nil && $0.caKeyID == keyID } }
    }

    /// Writes the revocations held only in memory, once the file can be written.
    func saveUnsavedRevocations() async {
        let unsaved = revocationState.withLock { $0.unsaved }
        guard !unsaved.isEmpty else { return }
        let file = revocations.file
        do {
            _ = try await Blocking.run { try file.update { list in unsaved.map { list.add($0) } } }
        } catch {
            return
        }
        revocations.reload()
        revocationState.withLock { state in
            let saved = Set(unsaved.map(Self.fingerprint))
            state.unsaved.removeAll { saved.contains(Self.fingerprint($0)) }
        }
        logger.notice("saved the revocations held in memory to revocations.json", metadata: ["count": "\(unsaved.count)"])
    }

    /// Counts newly held revocations as obeyed, logs them and has the
    /// sessions relay the list; the caller closes the sessions.
    private func obey(_ added: [SignedRevocation], via: String) {
        revocationState.withLock { state in
            state.generation += 1
            for revocation in added { state.obeyed.insert(Self.fingerprint(revocation)) }
        }
        for revocation in added {
            logger.notice("a device was revoked by the team CA: disconnected and refused from now on", metadata: [
                "device": "\(revocation.device)", "reason": "\(revocation.reason)", "revoked_at": "\(revocation.revokedAt)", "via": "\(via)"])
        }
    }

    private var refusedRevocationHashes: Set<[UInt8]> { revocationState.withLock { $0.refusedHashes } }

    private func rememberRefused(_ list: [SignedRevocation]) {
        revocationState.withLock { state in
            state.refused += UInt64(list.count)
            if state.refusedHashes.count + list.count > Self.refusedRevocationMemory { state.refusedHashes.removeAll() }
            for revocation in list { state.refusedHashes.insert(Self.fingerprint(revocation)) }
        }
    }

    static func fingerprint(_ revocation: SignedRevocation) -> [UInt8] {
        Array(SHA256.hash(data: revocation.signedBytes + revocation.signature))
    }
}
