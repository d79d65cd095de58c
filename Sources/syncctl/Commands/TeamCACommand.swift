import ArgumentParser
import Foundation
import SyncCore

struct TeamCACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Optional team CA: devices it signs may connect without being listed as peers.",
        discussion: """
            One analyst creates the CA and keeps its directory safe; each device's
            certificate is then signed with it (same key, so the device ID stays).
            Restart syncd after signing so it presents the new certificate.

            Examples:
              syncctl ca create ~/team-ca --name "Minerals desk"
              syncctl ca sign --ca ~/team-ca
              syncctl ca sign --ca ~/team-ca --data-dir /srv/syncd-b
              syncctl ca revoke bo-laptop --ca ~/team-ca --reason "stolen 2026-12-01"
              syncctl ca revoked
            """,
        subcommands: [CreateCA.self, SignDevice.self, RevokeDevice.self, ListRevocations.self])
}

struct CreateCA: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a team CA key and certificate in DIR.")

    @Argument(help: ArgumentHelp("Directory for ca-key.pem (mode 0600) and ca-cert.pem.", valueName: "dir")) var directory: String
    @Option(help: "The team's name, written into the CA certificate.") var name: String = "syncd team CA"

    func run() throws {
        try reportingErrors {
            let certificate = try TeamCA.create(in: URL(fileURLWithPath: directory), name: name)
            print("created the team CA: \(certificate.path)")
            print("keep \(URL(fileURLWithPath: directory).appendingPathComponent(TeamCA.keyFile).path) private; sign devices with `syncctl ca sign --ca \(directory)`")
        }
    }
}

struct SignDevice: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign", abstract: "Sign this device's certificate with the team CA and set team_ca in its config.")

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("The team CA directory (from `syncctl ca create`).", valueName: "dir")) var ca: String

    func run() throws {
        try reportingErrors {
            let editor = try global.peerEditor()
            let config = try editor.load()
            let caDirectory = URL(fileURLWithPath: ca)
            let id = try TeamCA.sign(deviceDirectory: global.directory.url, caDirectory: caDirectory, deviceName: config.deviceName)
            try editor.set("team_ca", to: caDirectory.appendingPathComponent(TeamCA.certificateFile).standardizedFileURL.path)
            print("signed device \(id) with the team CA; team_ca set in \(editor.path)")
            print("restart syncd so it presents the signed certificate")
        }
    }
}

/// `syncctl ca revoke`: a revocation signed with the CA key, obeyed by every
/// daemon that trusts the CA (replication-model §6.3).
struct RevokeDevice: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Shut a device out of every daemon that trusts the team CA (needs the CA key).",
        discussion: """
            Makes a revocation signed with the CA key and gives it to this machine's
            daemon, which disconnects the device, refuses it from then on (even when it is
            a configured peer) and passes the revocation to its peers; they check the
            signature against their team CA, obey it and pass it on, so it reaches every
            daemon connected to the team. A revocation cannot be taken back: the device
            needs a new key (a new device ID) to rejoin. For one machine only, and
            reversible, use `syncctl peers block`.

            Examples:
              syncctl ca revoke QX3F-...-7B2A --ca ~/team-ca --reason "stolen 2026-12-01"
              syncctl ca revoke bo-laptop --ca ~/team-ca
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The device ID, or the name of a configured peer.", valueName: "device-id-or-name")) var device: String
    @Option(help: ArgumentHelp("The team CA directory (with ca-key.pem).", valueName: "dir")) var ca: String
    @Option(help: "Why, signed into the revocation (at most 200 bytes).") var reason = ""

    func run() throws {
        try reportingErrors {
            let peers = (try? global.peerEditor().load().peers) ?? []
            // A revocation cannot be taken back: a name must name exactly one peer, byte for byte.
            let named = peers.filter { Array($0.name.utf8) == Array(device.utf8) }
            if DeviceID(device) == nil, named.count > 1 {
                throw CLIError("'\(device)' names \(named.count) peers (\(named.map(\.deviceID.short).joined(separator: ", "))); give the device ID")
            }
            guard let id = DeviceID(device) ?? named.first?.deviceID else {
                throw CLIError("'\(device)' is neither a device ID nor the name of a configured peer")
            }
            if let own = try DeviceIdentity.existingDeviceID(in: global.directory.url), own == id {
                throw CLIError("\(id.short)… is this device's own ID; revoke it from another machine")
            }
            let caDirectory = URL(fileURLWithPath: ca)
            let authority = try TeamCA(path: caDirectory.appendingPathComponent(TeamCA.certificateFile).path)
            let key = try TeamCA.loadKey(in: caDirectory)
            let revocation = try SignedRevocation.make(device: id, reason: reason, at: Date(), caKey: key)
            guard revocation.check(against: authority.certificate) == .valid else {
                throw CLIError("\(caDirectory.path): ca-key.pem does not belong to ca-cert.pem")
            }
            // This daemon passes the revocation on only if it trusts the same CA.
            let configured = try global.peerEditor().load().teamCA
            guard let configured, let local = try? TeamCA(path: configured) else {
                throw CLIError("this daemon (\(global.directory.path)) has no team CA configured, so it would not pass the revocation on; run this on a machine whose config sets team_ca to \(caDirectory.appendingPathComponent(TeamCA.certificateFile).path) (`syncctl ca sign --ca \(ca)` sets it)")
            }
            guard SignedRevocation.keyID(of: local.certificate.publicKey) == revocation.caKeyID else {
                throw CLIError("this daemon trusts another team CA (\(configured)); its peers would refuse this revocation. Use the CA in its team_ca, or a machine that trusts \(ca)")
            }
            let added = try RevocationFile(directory: global.directory.url).update { $0.add(revocation) }
            if added == .full {
                throw CLIError("this daemon already holds \(RevocationList.maxEntries) revocations, the most it keeps; the device was NOT revoked")
            }
            let running = (try? ControlClient(path: global.directory.controlSocketPath).send(ControlRequest(command: "revoked"), timeout: 5))?.ok == true
            let name = peers.first { $0.deviceID == id }?.name
            print("\(added == .added ? "revoked" : "already revoked:") \(name.map { "\($0) " } ?? "")\(id)")
            print(running ? "the daemon disconnected it and passes the revocation to its peers now" : "no daemon runs here: the revocation is obeyed and passed on from its next start")
        }
    }
}

struct ListRevocations: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoked", abstract: "List the team-CA revocations this daemon holds and obeys.",
        discussion: "Example: syncctl ca revoked --json")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try reportingErrors {
            let list = try RevocationFile(directory: global.directory.url).loadChecked().revocations
            try global.emit(list) {
                guard !list.isEmpty else { print("no revocations held"); return }
                print("\(Display.fit("DEVICE ID", 64)) \(Display.fit("REVOKED", 20)) REASON")
                for revocation in list {
                    print("\(Display.fit(revocation.device.description, 64)) \(Display.fit(Display.time(revocation.revokedAt), 20)) \(revocation.reason)")
                }
            }
        }
    }
}
