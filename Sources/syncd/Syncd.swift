import ArgumentParser
import Dispatch
import Foundation
import Logging
import SyncCore

@main
struct Syncd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "syncd",
        abstract: "The replication daemon: keeps this analyst's copy of the critical-minerals dataset.",
        discussion: """
            With no arguments it uses the default data directory ($SYNCD_DATA_DIR, else
            $XDG_DATA_HOME/syncd, else ~/.local/share/syncd), creating it and the seeded
            database on first start, and runs until interrupted (Ctrl-C or SIGTERM).

            Examples:
              syncd
              syncd --data-dir /tmp/analyst-a
            """)

    @Option(name: .long, help: ArgumentHelp("Data directory (database, identity, config).", valueName: "dir"))
    var dataDir: String?

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "syncd")
        let directory = DataDirectory.resolve(explicit: dataDir)
        let store: Store
        let seeded: Bool
        do {
            (store, seeded) = try directory.openStore()
        } catch {
            logger.critical("cannot open the data directory", metadata: ["path": "\(directory.path)", "error": "\(error)"])
            throw ExitCode.failure
        }
        let counts = try store.recordCounts()
        print("syncd \(SyncdVersion.string)")
        print("data directory: \(directory.path)")
        print("database:       \(store.path)\(seeded ? " (new, seeded with the critical-minerals dataset)" : "")")
        print("replica:        \(try store.replicaID)")
        print("records:        \(counts.values.reduce(0, +)) (\(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))")
        print("digest:         \(try store.digest().hex)")
        print("running; press Ctrl-C to stop")
        logger.info("ready", metadata: ["data_dir": "\(directory.path)"])
        let signal = await ShutdownSignal.wait()
        logger.info("stopping", metadata: ["signal": "\(signal)"])
    }
}

enum SyncdVersion {
    static let string = "0.1.0"
}

/// Waits for SIGINT or SIGTERM.
enum ShutdownSignal {
    static func wait() async -> String {
        await withCheckedContinuation { continuation in
            let queue = DispatchQueue(label: "syncd.signals")
            let once = OnceFlag()
            var sources: [DispatchSourceSignal] = []
            for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler {
                    if once.claim() { continuation.resume(returning: name) }
                }
                source.resume()
                sources.append(source)
            }
            SignalSources.keep(sources)
        }
    }
}

/// Keeps the signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []
    static func keep(_ new: [DispatchSourceSignal]) { sources += new }
}

final class OnceFlag: @unchecked Sendable {
    private var claimed = false
    private let lock = NSLock()
    func claim() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}
