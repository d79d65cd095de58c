import ArgumentParser
import SyncCore

struct Digest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the digest of the replicated state: equal on replicas that have converged.",
        discussion: "Example: syncctl digest --data-dir ~/.local/share/syncd")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try reportingErrors {
            print(try global.openStore(readOnly: true).digest().hex)
        }
    }
}
