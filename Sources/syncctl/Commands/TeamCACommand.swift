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
            """,
        subcommands: [CreateCA.self, SignDevice.self])
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
