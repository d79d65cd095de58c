import ArgumentParser
import Foundation
import SyncCore
import SyncWeb

struct UI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "Open the web app: print (or open) a one-time login link; set its password; show its API key.",
        discussion: """
            The link logs one browser in (it works once, for 5 minutes); the session lasts
            7 days, across daemon restarts, or until logged out. Scripts use the
            API key instead: `curl -H "Authorization: Bearer $(syncctl ui api-key)" ...`
            (see docs/api.md).

            Examples:
              syncctl ui
              syncctl ui --open
              syncctl ui api-key
              syncctl ui password        # needed to serve the app on a non-loopback address
            """,
        subcommands: [UILink.self, UIPassword.self, UIAPIKey.self],
        defaultSubcommand: UILink.self)
}

struct UILink: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "link", abstract: "Print a one-time login link to the running daemon's web app.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Open the link in the default browser (xdg-open, or $BROWSER).") var open = false

    func run() throws {
        try reportingErrors {
            let response: ControlResponse
            do { response = try global.control(ControlRequest(command: "ui-login"), timeout: 5) } catch {
                throw CLIError("\(error)\nIs syncd running for \(global.directory.path)? Start it with `syncd --data-dir \(global.directory.path)`.")
            }
            guard let url = response.url else { throw CLIError("the daemon gave no link; is it an older syncd without the web app?") }
            try global.emit(["url": url]) { print(url) }
            if open { try Self.openInBrowser(url) }
        }
    }

    static func openInBrowser(_ url: String) throws {
        let browser = ProcessInfo.processInfo.environment["BROWSER"].flatMap { $0.isEmpty ? nil : $0 } ?? "xdg-open"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [browser, url]
        do { try process.run() } catch {
            throw CLIError("cannot start \(browser) (\(error)); open the link above by hand")
        }
    }
}

struct UIPassword: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "password",
        abstract: "Set the web app's password (stored hashed in ui-password, mode 0600).",
        discussion: """
            Needed before the app may listen on a non-loopback address (it is then served
            over HTTPS with the device certificate). The daemon reads it at start.

            Examples:
              syncctl ui password
              printf '%s\\n' "$PASSWORD" | syncctl ui password --stdin
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Read the password from standard input (one line) instead of asking.") var stdin = false

    func run() throws {
        try reportingErrors {
            let password: String
            if stdin {
                guard let line = readLine(strippingNewline: true) else { throw CLIError("no password on standard input") }
                password = line
            } else {
                guard let first = Self.ask("New password: "), let second = Self.ask("Again: ") else { throw CLIError("no password given") }
                guard Array(first.utf8) == Array(second.utf8) else { throw CLIError("the two passwords differ; nothing was changed") }
                password = first
            }
            let credentials = UICredentials(directory: global.directory)
            do { try credentials.setPassword(password) } catch { throw CLIError("\(error)") }
            print("password set in \(credentials.passwordPath); restart syncd for a new `ui:` address to take effect")
        }
    }

    static func ask(_ prompt: String) -> String? {
        guard let pointer = getpass(prompt) else { return nil }
        return String(cString: pointer)
    }
}

struct UIAPIKey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key",
        abstract: "Print the web API's key (created on first use, kept in ui-api-key, mode 0600).",
        discussion: """
            Example:
              curl -H "Authorization: Bearer $(syncctl ui api-key)" http://127.0.0.1:22880/api/v1/status
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Make a new key; the old one stops working at once.") var rotate = false

    func run() throws {
        try reportingErrors {
            let credentials = UICredentials(directory: global.directory)
            try global.directory.create()
            print(rotate ? try credentials.rotateAPIKey() : try credentials.apiKey())
        }
    }
}
