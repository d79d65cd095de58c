import ArgumentParser
import Foundation
import SyncCore

/// `syncctl invite`: one line that lets one new machine join (docs/operations.md "Invitations").
struct Invite: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Invite one new machine: prints a one-line code for `syncctl join` there.",
        discussion: """
            The code holds this device's ID, where to dial it and a one-time secret. On
            the new machine, `syncctl join CODE` makes this daemon its peer; at its first
            connection it proves the secret over the TLS session, and this daemon adds it
            as a peer with the mode and name given here. A code admits one device, expires
            (default 1d, at most 30d), and is kept here only as a hash. Send it over a
            channel you trust: whoever holds it can join until it is used.

            Examples:
              syncctl invite
              syncctl invite --name bo-laptop --mode receive-only --expires 2h
              syncctl invite --address 192.0.2.10:22870 --address [2001:db8::10]:22870
              syncctl invite list
              syncctl invite cancel 3f9a
            """,
        subcommands: [CreateInvitation.self, ListInvitations.self, CancelInvitation.self],
        defaultSubcommand: CreateInvitation.self)
}

struct CreateInvitation: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Make an invitation and print its code (the default).")

    @OptionGroup var global: GlobalOptions
    @Option(help: "The mode the new peer gets here: send-receive (default), send-only or receive-only.") var mode: String = PeerMode.sendReceive.rawValue
    @Option(help: ArgumentHelp("How long the code can be used: 30m, 12h, 1d (default), at most 30d.", valueName: "duration")) var expires = "1d"
    @Option(help: "The name the new peer gets here (default: the name its owner gave the device).") var name: String?
    @Option(help: ArgumentHelp("Where the new machine dials this one (repeatable; default: the listen address, or this machine's interface addresses when it listens on all).", valueName: "host:port"))
    var address: [String] = []

    func validate() throws {
        guard PeerMode(rawValue: mode) != nil else { throw ValidationError("--mode '\(mode)' is not a mode: use send-receive, send-only or receive-only") }
        guard let seconds = DurationText.seconds(expires) else { throw ValidationError("--expires '\(expires)' is not a duration: for example 30m, 12h, 1d") }
        guard seconds <= InvitationBook.maxLifetime else { throw ValidationError("--expires \(expires) is longer than 30d; make a new invitation later instead") }
        for text in address where HostPort(text) == nil { throw ValidationError("--address '\(text)' is not HOST:PORT, for example 192.0.2.10:22870") }
        guard address.count <= InvitationCode.maxAddresses else { throw ValidationError("at most \(InvitationCode.maxAddresses) addresses fit in a code") }
        if let name, name.utf8.count > InvitationCode.maxNameBytes { throw ValidationError("--name is longer than \(InvitationCode.maxNameBytes) bytes") }
    }

    struct Output: Encodable {
        let code: String
        let id: String
        let mode: String
        let name: String?
        let addresses: [String]
        let expiresAt: Date
    }

    func run() throws {
        try reportingErrors {
            let config = try global.peerEditor().load()
            guard let device = try DeviceIdentity.existingDeviceID(in: global.directory.url) else {
                throw CLIError("no device identity in \(global.directory.path). Start the daemon once (`syncd --data-dir \(global.directory.path)`) to create it.")
            }
            // The running daemon's listen address wins (it may come from --listen or SYNCD_LISTEN).
            let ask = { (try? ControlClient(path: self.global.directory.controlSocketPath).send(ControlRequest(command: "status"), timeout: 5))?.status }
            var running = ask()
            // A daemon started a moment ago answers before its listener has
            // its port (`--listen …:0`): asked again, up to 5 s.
            let deadline = Date().addingTimeInterval(5)
            while address.isEmpty, let status = running, HostPort(status.listen)?.port == 0, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.05)
                running = ask()
            }
            let listen = running.flatMap { HostPort($0.listen) } ?? config.listen
            if address.isEmpty, listen.port == 0 {
                throw CLIError("the daemon has not bound its listening port yet (it listens on port 0, chosen at start); run `syncctl invite` again in a moment, or pass --address HOST:PORT")
            }
            let addresses = address.isEmpty ? LocalAddresses.dialable(listen: listen) : address.compactMap(HostPort.init)
            var random = SystemRandomNumberGenerator()
            let id = (0..<InvitationCode.idBytes).map { _ in UInt8.random(in: 0...255, using: &random) }
            let secret = (0..<InvitationCode.secretBytes).map { _ in UInt8.random(in: 0...255, using: &random) }
            let now = Date()
            let lifetime = DurationText.seconds(expires)!
            let grantedMode = PeerMode(rawValue: mode)!
            let added = try InvitationFile(directory: global.directory.url).update {
                $0.add(id: id, secret: secret, mode: grantedMode, name: name, now: now, lifetime: lifetime)
            }
            guard added else {
                throw CLIError("\(InvitationBook.maxInvitations) invitations are kept already; cancel unused ones (`syncctl invite list`, `syncctl invite cancel ID`)")
            }
            let code = InvitationCode(inviter: device, inviterName: config.deviceName, addresses: addresses, invitationID: id, secret: secret,
                                      mode: grantedMode, expires: now.addingTimeInterval(lifetime))
            let idText = Hex.encode(id)
            try global.emit(Output(code: code.text, id: idText, mode: grantedMode.rawValue, name: name, addresses: addresses.map(\.description),
                                   expiresAt: code.expires)) {
                // The code alone on standard output (`code=$(syncctl invite)` works); the rest on stderr.
                print(code.text)
                var notes = ["invitation \(idText.prefix(8)) for one \(grantedMode.rawValue) peer\(name.map { " named \($0)" } ?? ""), expires \(Display.time(code.expires)) (in \(DurationText.describe(lifetime)))",
                             "the new machine dials \(addresses.map(\.description).joined(separator: ", "))",
                             "on the new machine run: syncctl join <the code above>"]
                if address.isEmpty, LocalAddresses.isLoopbackOnly(listen) {
                    notes.append("note: this daemon listens on \(listen) only, which other machines cannot reach; set `listen: 0.0.0.0:\(listen.port)` in \(global.configPath) and restart it, or pass --address")
                }
                if running == nil { notes.append("note: no daemon runs here now; the new machine can join once it does (`syncd`)") }
                FileHandle.standardError.write(Data((notes.joined(separator: "\n") + "\n").utf8))
            }
        }
    }
}

struct ListInvitations: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the invitations kept here: open, used and expired (kept 7 days); `syncctl status` counts refused claims.",
        discussion: "Example: syncctl invite list --json")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try reportingErrors {
            let book = try InvitationFile(directory: global.directory.url).loadChecked()
            try global.emit(book.invitations) {
                guard !book.invitations.isEmpty else { print("no invitations; make one with `syncctl invite`"); return }
                let now = Date()
                print("\(Display.fit("ID", 10)) \(Display.fit("STATE", 26)) \(Display.fit("MODE", 13)) NAME")
                for invitation in book.invitations {
                    let state = invitation.usedBy.map { "used by \($0.prefix(9))…" }
                        ?? (now < invitation.expiresAt ? "open, expires \(Display.until(invitation.expiresAt))" : "expired")
                    print("\(Display.fit(String(invitation.id.prefix(8)), 10)) \(Display.fit(state, 26)) \(Display.fit(invitation.mode.rawValue, 13)) \(invitation.name ?? "-")")
                }
            }
        }
    }
}

struct CancelInvitation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel an invitation by its id (a unique prefix is enough); its code stops working.",
        discussion: "Example: syncctl invite cancel 3f9a")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The invitation's id, as `syncctl invite list` shows it.", valueName: "id")) var id: String

    func run() throws {
        try reportingErrors {
            guard let removed = try InvitationFile(directory: global.directory.url).update({ $0.cancel(id) }) else {
                throw CLIError("no single invitation has an id starting with '\(id)' (`syncctl invite list`)")
            }
            print("cancelled invitation \(removed.id.prefix(8)); its code is refused from now on")
        }
    }
}
