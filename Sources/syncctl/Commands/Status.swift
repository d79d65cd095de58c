import ArgumentParser
import Foundation
import SyncCore

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show whether the daemon runs, its peers, their lag and last sync, open conflicts and problems.",
        discussion: "Example: syncctl status")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try reportingErrors {
            let status = try global.control(ControlRequest(command: "status")).status!
            try global.emit(status) { StatusDisplay.print(status) }
        }
    }
}

enum StatusDisplay {
    static func print(_ status: DaemonStatus) {
        Swift.print("daemon:     running since \(Display.time(status.startedAt)), listening on \(status.listen)")
        Swift.print("device:     \(status.deviceName)")
        Swift.print("device ID:  \(status.deviceID)")
        Swift.print("replica:    \(status.replica)  (highest seq \(status.highestSeq))")
        if let dataset = status.dataset { Swift.print("dataset:    \(SchemaLineage.display(dataset))") }
        if let open = status.invitations?.open, open > 0 {
            Swift.print("invites:    \(open) open (`syncctl invite list`)")
        }
        if let held = status.revocations?.held, held > 0 {
            Swift.print("revoked:    \(held) device(s) shut out by the team CA (`syncctl ca revoked`)")
        }
        Swift.print("conflicts:  \(status.conflicts) open\(status.conflicts > 0 ? " (see `syncctl conflicts`)" : "")")
        if let discovery = status.discovery {
            Swift.print("discovery:  LAN, UDP port \(discovery.port), \(discovery.learned.count) peer address(es) learned")
        }
        var problems: [String] = []
        if status.schemaProblems > 0 { problems.append("\(status.schemaProblems) changes fail the local schema (`syncctl check`)") }
        if let collisions = status.dotCollisions, collisions > 0 {
            problems.append("\(collisions) dots held with two contents: a copied database (`syncctl check`)")
        }
        if let pending = status.pendingDevices, pending > 0 {
            problems.append("\(pending) device(s) asked to connect and wait for you (`syncctl peers pending`)")
        }
        if let refused = status.revocations?.refused, refused > 0 {
            problems.append("\(refused) revocations from peers refused (bad signature or another CA; see the log)")
        }
        if let invitations = status.invitations {
            let refused = invitations.refused.values.reduce(0, +)
            if refused > 0 {
                let reasons = invitations.refused.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                problems.append("\(refused) invitation claims refused (\(reasons); see the log)")
            }
        }
        if let sql = status.sqlEdits, sql.refused > 0 {
            problems.append("\(sql.refused) SQL edits of the tables refused and kept (`syncctl sql list`)")
        }
        if let sql = status.sqlEdits, sql.pending > 0 { problems.append("\(sql.pending) SQL edits waiting to be taken up") }
        if status.refusedHandshakes > 0 { problems.append("\(status.refusedHandshakes) refused handshakes") }
        if let refused = status.refusedBatches, refused > 0 { problems.append("\(refused) received batches refused for breaking a limit (see the log)") }
        if let violations = status.protocolViolations, violations > 0 { problems.append("\(violations) connections closed for a protocol violation or not reading") }
        if status.refusedReplicas > 0 { problems.append("\(status.refusedReplicas) peers refused for a reused replica id") }
        for skew in status.clockSkewedPeers {
            problems.append("\(skew.peer ?? String(skew.replica.prefix(8))): \(skew.versions) versions dated up to \(Int(skew.maxAheadSeconds))s ahead")
        }
        Swift.print("problems:   \(problems.isEmpty ? "none" : problems.joined(separator: "; "))")
        guard !status.peers.isEmpty else {
            Swift.print("peers:      none configured (`syncctl peers add`)")
            return
        }
        Swift.print("")
        Swift.print("\(Display.fit("PEER", 14)) \(Display.fit("STATE", 12)) \(Display.fit("MODE", 12)) \(Display.fit("LAG", 7)) \(Display.fit("LAST SYNC", 10)) \(Display.fit("IN/OUT", 17))")
        for peer in status.peers {
            let state = peer.state == "connected" && peer.caughtUp ? "in sync" : peer.state
            let traffic = "\(Display.bytes(peer.bytesIn))/\(Display.bytes(peer.bytesOut))"
            Swift.print("\(Display.fit(peer.name, 14)) \(Display.fit(state, 12)) \(Display.fit(peer.mode, 12)) \(Display.fit(String(peer.lag), 7)) \(Display.fit(peer.lastSync.map(Display.ago) ?? "never", 10)) \(Display.fit(traffic, 17))")
            if let error = peer.lastError, peer.state != "connected" { Swift.print("  last error: \(Display.fit(error, 66))") }
            if let join = peer.join { Swift.print("  snapshot: \(Display.fit(join, 68))") }
            if let other = peer.otherDataset, peer.state != "connected" {
                let theirs = SchemaLineage.display(other), ours = SchemaLineage.display(status.dataset ?? "")
                Swift.print("  another dataset: the peer's is '\(theirs.count > 60 ? theirs.prefix(59) + "…" : theirs)', this daemon's '\(ours)'; they never sync (remove the peer: `syncctl peers remove \(peer.name)`)")
            }
            for learned in status.discovery?.learned ?? [] where learned.deviceID == peer.deviceID {
                Swift.print("  learned address: \(learned.address) (heard \(Display.ago(learned.lastSeen)))")
            }
        }
    }
}
