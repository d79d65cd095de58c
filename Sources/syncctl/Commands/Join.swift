import ArgumentParser
import Foundation
import SyncCore

/// `syncctl join CODE`: the other half of `syncctl invite` (docs/operations.md "Invitations").
struct Join: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join a team with a code from `syncctl invite`: the inviter becomes a peer, and this device its peer.",
        discussion: """
            Adds the inviter as a peer (at the first of its addresses that answers from
            here) and leaves the code's secret for this machine's daemon, which proves it
            at its first connection, over the TLS session that checks the inviter's device
            ID. The inviter then adds this device with the mode and name it chose. Waits
            until that happened (or --timeout), with the daemon running; without a daemon
            the claim is made when it starts.

            Examples:
              syncctl join syncd://join/AQLx…
              syncctl join "$(cat invitation.txt)" --name desk-hub --timeout 120
              syncctl join syncd://join/AQLx… --no-wait
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The code `syncctl invite` printed on the inviter's machine.", valueName: "code")) var code: String
    @Option(help: "The name the inviter gets here (default: the name in the code).") var name: String?
    @Option(help: ArgumentHelp("Dial the inviter here instead of at the code's addresses.", valueName: "host:port")) var address: String?
    @Option(help: ArgumentHelp("Seconds to wait for the inviter's answer.", valueName: "seconds")) var timeout: Double = 60
    @Flag(help: "Do not wait for the inviter's answer.") var noWait = false

    func validate() throws {
        if let address, HostPort(address) == nil { throw ValidationError("--address '\(address)' is not HOST:PORT, for example 192.0.2.10:22870") }
        guard timeout > 0, timeout <= 3_600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
    }

    func run() throws {
        try reportingErrors {
            let invitation: InvitationCode
            do { invitation = try InvitationCode(parsing: code) } catch { throw CLIError("not a usable invitation: \(error)") }
            guard invitation.expires > Date() else {
                throw CLIError("this invitation expired at \(Display.time(invitation.expires)); ask for a new one (`syncctl invite` on the inviter's machine)")
            }
            let editor = try global.peerEditor()
            guard let own = try DeviceIdentity.existingDeviceID(in: global.directory.url) else {
                throw CLIError("no device identity in \(global.directory.path). Start the daemon once (`syncd --data-dir \(global.directory.path)`) to create it.")
            }
            guard own != invitation.inviter else { throw CLIError("this code was made on this device; run `syncctl join` on the new machine") }
            var peers = try editor.load().peers
            let running = (try? ControlClient(path: global.directory.controlSocketPath).send(ControlRequest(command: "status"), timeout: 5))?.status
            if let connected = running?.peers.first(where: { $0.deviceID == invitation.inviter.description && $0.state == "connected" }) {
                print("already connected to \(connected.name) (\(invitation.inviter.short)…): nothing to join; the code stays unused there")
                return
            }
            let dial: HostPort
            if let address {
                dial = HostPort(address)!
            } else if let only = invitation.addresses.first, invitation.addresses.count == 1 {
                dial = only
            } else if let answering = AddressProbe.firstAnswering(invitation.addresses.filter { !LocalAddresses.own().contains($0.host) }) {
                dial = answering
            } else {
                guard let first = invitation.addresses.first else { throw CLIError("the code lists no address; give one with --address HOST:PORT") }
                dial = first
                FileHandle.standardError.write(Data("note: none of \(invitation.addresses.map(\.description).joined(separator: ", ")) answers from here now; the daemon keeps trying \(dial)\n".utf8))
            }
            let peerName = name ?? PeerConfig.uniqueName(invitation.inviterName, for: invitation.inviter, among: peers)
            if let name, peers.contains(where: { $0.name == name && $0.deviceID != invitation.inviter }) {
                throw CLIError("the name '\(name)' is taken by another peer; choose another with --name")
            }
            // The claim first: the daemon must find it when the peer appears.
            try JoinClaimFile(directory: global.directory.url).update { $0.add(invitation, now: Date()) }
            let peer = PeerConfig(deviceID: invitation.inviter, name: peerName, address: dial, mode: invitation.joinerMode)
            peers.removeAll { $0.deviceID == invitation.inviter }
            peers.append(peer)
            try editor.save(peers)
            print("added \(peer.name) (\(invitation.inviter.short)…) as a \(peer.mode.rawValue) peer at \(dial)")
            guard running != nil else {
                print("no daemon runs here: start it (`syncd`) and it proves the invitation at its first connection")
                return
            }
            guard !noWait else {
                print("the daemon proves the invitation at its next connection; `syncctl status` shows the peer")
                return
            }
            try wait(for: invitation.inviter, peerName: peer.name)
        }
    }

    /// Polls the claim until the daemon has the inviter's answer.
    private func wait(for inviter: DeviceID, peerName: String) throws {
        let file = JoinClaimFile(directory: global.directory.url)
        let deadline = Date().addingTimeInterval(timeout)
        FileHandle.standardError.write(Data("waiting for \(peerName) to accept (up to \(Int(timeout))s)…\n".utf8))
        while Date() < deadline {
            if let claim = file.load().claim(for: inviter) {
                if claim.acceptedAt != nil {
                    print("joined: \(peerName) accepted this device; they sync from now on (`syncctl status`)")
                    return
                }
                if let refusal = claim.refusal {
                    guard !refusal.hasPrefix(HelloRules.lineageRefusalLead) else {
                        // A new code would not help: this data directory holds another dataset.
                        throw CLIError("\(peerName) refused the invitation: \(refusal). The invitation stays open for a device of its dataset")
                    }
                    throw CLIError("\(peerName) refused the invitation: \(refusal). Ask for a new code (`syncctl invite` there)")
                }
            }
            Thread.sleep(forTimeInterval: 0.25)
        }
        let status = try? global.control(ControlRequest(command: "status")).status
        let lastError = status?.peers.first { $0.deviceID == inviter.description }?.lastError
        throw CLIError("no answer from \(peerName) within \(Int(timeout))s\(lastError.map { " (last error: \($0))" } ?? ""); the daemon keeps trying: `syncctl status` shows when it connects")
    }
}
