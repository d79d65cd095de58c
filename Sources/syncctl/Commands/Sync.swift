import ArgumentParser
import Foundation
import SyncCore

struct Sync: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the daemon to sync now and wait until its peers are caught up.",
        discussion: """
            Exits 0 when caught up, 1 on timeout or when the daemon is not running.

            Examples:
              syncctl sync
              syncctl sync --peer bob-laptop --timeout 60
            """)

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this peer (name or device ID).") var peer: String?
    @Option(help: "Seconds to wait.") var timeout: Double = 30

    func run() throws {
        try reportingErrors {
            let response = try global.control(ControlRequest(command: "sync", peer: peer, timeout: timeout), timeout: timeout)
            struct Output: Encodable { let caughtUp: Bool; let status: DaemonStatus? }
            try global.emit(Output(caughtUp: response.caughtUp == true, status: response.status)) {
                if let status = response.status { StatusDisplay.print(status) }
            }
            guard response.caughtUp == true else {
                throw CLIError("not caught up after \(Int(timeout))s; see the peers above and the daemon's log")
            }
            if !global.json { print("caught up") }
        }
    }
}
