import ArgumentParser
import Foundation
import SyncCore

struct Id: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print this device's ID (give it to the analysts who add you as a peer).",
        discussion: "Example: syncctl id --data-dir ~/.local/share/syncd")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try reportingErrors {
            guard let id = try DeviceIdentity.existingDeviceID(in: global.directory.url) else {
                throw CLIError("no device identity in \(global.directory.path). Start the daemon once (`syncd --data-dir \(global.directory.path)`) to create it.")
            }
            print(id)
        }
    }
}
