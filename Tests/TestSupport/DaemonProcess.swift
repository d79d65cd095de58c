import Foundation
import SyncCore

/// A real `syncd` process on 127.0.0.1 with its own data directory and
/// identity. The identity and config are written before the first start so
/// peers can be configured with each other's device IDs.
public final class DaemonProcess: @unchecked Sendable {
    public let name: String
    public let directory: URL
    public let deviceID: DeviceID
    public private(set) var port = 0
    private var process: Process?
    private let lock = NSLock()
    private var output = ""

    /// What the daemon printed on standard output since its last start.
    public var printed: String { lock.withLock { output } }

    /// Settings that make tests fast: quick reconnects, keepalives and digests.
    public static let fastSettings = """
        reconnect:
          initial_ms: 100
          max_ms: 1000
        keepalive_seconds: 1
        idle_timeout_seconds: 5
        digest_interval_seconds: 1
        local_poll_ms: 50
        """

    /// The `--ui` argument: a free loopback port by default, so test daemons
    /// never fight over the default 22880 ("" turns the web app off).
    public var uiArgument = "127.0.0.1:0"

    /// The network namespace to run the daemon in (`ip netns exec`), one the
    /// test made itself. Only a daemon in such a namespace may have
    /// `discovery: lan` in its config: `start` refuses one outside.
    public var namespace: String?
    /// The host of the `--listen` argument (a daemon in a namespace listens
    /// on that namespace's addresses, "0.0.0.0" or "::").
    public var listenHost = "127.0.0.1"

    /// More arguments for the next starts (`--schema FILE --seed FILE`).
    public var extraArguments: [String] = []
    /// More environment for the next starts (test hooks such as `SYNCD_TEST_FLIP_SNAPSHOT_BYTE`).
    public var extraEnvironment: [String: String] = [:]

    /// How the process is told where its data lives (the default: `--data-dir`).
    private let passDataDir: Bool
    private let environment: [String: String]

    /// A daemon whose data directory is left for `syncd` itself to create,
    /// found through `environment` (HOME, XDG_DATA_HOME, SYNCD_DATA_DIR).
    public init(unprepared name: String, directory: URL, environment: [String: String]) {
        self.name = name
        self.directory = directory
        deviceID = DeviceID(spki: [])
        passDataDir = false
        self.environment = environment
    }

    /// A daemon for a data directory made elsewhere (by `syncctl init`):
    /// its device ID is read from the directory's certificate.
    public init(existing name: String, directory: URL) throws {
        self.name = name
        self.directory = directory
        passDataDir = true
        environment = [:]
        guard let device = try DeviceIdentity.existingDeviceID(in: directory) else { throw HarnessError("no device identity in \(directory.path)") }
        deviceID = device
    }

    public init(_ name: String, in root: TemporaryDirectory, settings: String = DaemonProcess.fastSettings, extraConfig: String = "") throws {
        self.name = name
        directory = root.url.appendingPathComponent(name)
        passDataDir = true
        environment = [:]
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        deviceID = try DeviceIdentity.loadOrCreate(in: directory, deviceName: name).identity.deviceID
        let config = """
            listen: 127.0.0.1:0
            author: \(name)
            device_name: \(name)
            peers: []
            \(settings)
            \(extraConfig)
            """
        try Data(config.utf8).write(to: directory.appendingPathComponent("config.yaml"))
    }

    deinit { kill() }

    public var configPath: String { directory.appendingPathComponent("config.yaml").path }
    public var logPath: String { directory.deletingLastPathComponent().appendingPathComponent("\(name).log").path }
    public var address: HostPort { HostPort(host: "127.0.0.1", port: port) }
    /// The running process's id (nil when stopped).
    public var pid: Int32? { lock.withLock { process.flatMap { $0.isRunning ? $0.processIdentifier : nil } } }
    public var isRunning: Bool { lock.withLock { process?.isRunning ?? false } }
    public var exitStatus: Int32? { lock.withLock { process.flatMap { $0.isRunning ? nil : $0.terminationStatus } } }

    /// Starts the daemon and waits until it listens; later starts reuse the port.
    ///
    /// On 127.0.0.1 the first start takes a free port below the kernel's
    /// ephemeral range (`ephemeralFloor`): a port the kernel handed out (port
    /// 0) could, between a stop and the next start, be taken as the local
    /// port of another daemon's outgoing connection, and the restart would
    /// fail with "Address already in use" (seen with 50 daemons). A first
    /// start that loses its port to another listener tries another.
    public func start(timeout: Duration = .seconds(30)) async throws {
        let firstStart = port == 0 && namespace == nil && listenHost == "127.0.0.1"
        let firstUI = uiPort == 0 && uiArgument == "127.0.0.1:0"
        for attempt in 1...4 {
            if firstStart { port = Self.freePortBelowEphemeral() }
            // Drawn apart: both are free when drawn, so they can be the same
            // port (CI of d0d0cc8: the daemon listened for peers, then its
            // web app failed on its own port, and it stopped).
            if firstUI {
                uiPort = (0..<64).lazy.map { _ in Self.freePortBelowEphemeral() }.first { $0 == 0 || $0 != self.port } ?? 0
            }
            do {
                try await startOnce(timeout: timeout)
                return
            } catch let error as HarnessError where (firstStart || firstUI) && attempt < 4 && error.description.contains("Address already in use") {
                if firstStart { port = 0 }
                if firstUI { uiPort = 0 }
            }
        }
    }

    /// The lowest port of the kernel's ephemeral range (32768 when unknown).
    static let ephemeralFloor: Int = {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } ?? 32_768
    }()

    /// Ports this process has handed out: a stopped daemon keeps its ports
    /// for its next start, and nothing listens on them meanwhile, so a port
    /// free now may still be another daemon's (50-daemon benchmark of
    /// 2026-12-06: a daemon drew as its web app's port the listening port of
    /// one stopped while it was prepared; at the final start its web app
    /// failed there and it stopped, and its peers could not reach it).
    private static let handedOut = NSLock()
    nonisolated(unsafe) private static var portsHandedOut = Set<Int>()

    /// A loopback port nothing listens on now and no daemon of this process
    /// was given, drawn from 20000 up to the ephemeral range (0: none
    /// found; the daemon then takes one).
    static func freePortBelowEphemeral() -> Int {
        let ceiling = max(20_001, min(ephemeralFloor, 32_768))
        for _ in 0..<64 {
            let candidate = Int.random(in: 20_000..<ceiling)
            let taken = handedOut.withLock { portsHandedOut.contains(candidate) }
            if taken { continue }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return 0 }
            let bound = withLoopbackAddress(port: candidate) { bind(fd, $0, $1) }
            close(fd)
            if bound == 0, handedOut.withLock({ portsHandedOut.insert(candidate).inserted }) { return candidate }
        }
        return 0
    }

    private func startOnce(timeout: Duration) async throws {
        // LAN discovery broadcasts: never from the test machine's own network.
        // Fails closed: a config it cannot read, or another one named in the environment, counts as discovery on.
        let configs = [configPath] + [environment["SYNCD_CONFIG"]].compactMap { $0 }
        let mayDiscover = configs.contains { path in
            guard FileManager.default.fileExists(atPath: path) else { return false }
            if let config = try? DaemonConfig.load(from: URL(fileURLWithPath: path), defaults: .machineDefaults()) { return config.discovery == .lan }
            // Not a config syncd would start with; still, any line that could turn discovery on counts.
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return text.range(of: #"(?m)^\s*discovery\s*:\s*["']?\s*lan"#, options: .regularExpression) != nil
        }
        if namespace == nil, mayDiscover {
            throw HarnessError("\(name): its config says `discovery: lan`; a test runs such a daemon only inside a network namespace it made (DaemonProcess.namespace)")
        }
        let process = Process()
        let arguments = (passDataDir ? ["--data-dir", directory.path] : [])
            + ["--listen", HostPort(host: listenHost, port: port).description, "--log-level", "debug"]
            + (uiArgument.isEmpty && uiPort == 0 ? ["--ui", ""] : ["--ui", uiPort == 0 ? uiArgument : "127.0.0.1:\(uiPort)"])
            + extraArguments
        if let namespace {
            process.executableURL = URL(fileURLWithPath: NetworkNamespace.ipTool)
            process.arguments = ["netns", "exec", namespace, BuiltProducts.executable("syncd").path] + arguments
        } else {
            process.executableURL = BuiltProducts.executable("syncd")
            process.arguments = arguments
        }
        var environment = ProcessInfo.processInfo.environment
        for key in ["SYNCD_UI", "SYNCD_LISTEN", "SYNCD_AUTHOR", "SYNCD_DEVICE_NAME", "SYNCD_METRICS", "SYNCD_CONFIG", "SYNCD_DATA_DIR", "XDG_DATA_HOME"] { environment[key] = nil }
        environment.merge(self.environment) { $1 }
        environment.merge(extraEnvironment) { $1 }
        process.environment = environment
        let stdout = Pipe()
        process.standardOutput = stdout
        try FileManager.default.createDirectory(at: directory.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let logFile = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        logFile.seekToEndOfFile()
        process.standardError = logFile
        lock.withLock { output = "" }
        stdout.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.output += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        lock.withLock { self.process = process }
        let deadline = ContinuousClock.now + timeout
        // Looks once more after the deadline: on a loaded 2-core machine this
        // task can be resumed only after it, while the daemon listened in
        // time (its output is read on another thread).
        while true {
            if let line = lock.withLock({ output.split(separator: "\n").first { $0.hasPrefix("listening:") } }),
               let bound = HostPort(String(line.dropFirst("listening:".count)).trimmingCharacters(in: .whitespaces)) {
                port = bound.port
                // syncd binds its control socket before it prints this line
                // (a test that asks for the status at once must find it).
                controlSocketReadyAtListening = FileManager.default.fileExists(atPath: directory.appendingPathComponent("control.sock").path)
                return
            }
            guard ContinuousClock.now < deadline else { break }
            guard process.isRunning else { throw HarnessError("\(name) exited with \(process.terminationStatus) before listening:\n\(log(last: 30))") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("\(name) did not start listening in time:\n\(log(last: 30))")
    }

    /// Whether `control.sock` stood in `directory` when the last start saw
    /// the `listening:` line.
    public private(set) var controlSocketReadyAtListening = false

    /// The web app's port once it is bound (kept across restarts, like `port`).
    public private(set) var uiPort = 0

    /// Waits for the "web app:" line and returns the app's base URL.
    public func waitForUI(timeout: Duration = .seconds(15)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {  // once more after the deadline, as in `startOnce`
            if let line = lock.withLock({ output.split(separator: "\n").first { $0.hasPrefix("web app:") } }),
               let url = line.dropFirst("web app:".count).split(separator: " ").first.map({ String($0).trimmingCharacters(in: CharacterSet(charactersIn: "/")) }),
               let port = url.split(separator: ":").last.flatMap({ Int($0) }) {
                uiPort = port
                return url
            }
            guard ContinuousClock.now < deadline else { break }
            guard isRunning else { throw HarnessError("\(name) exited before serving the web app:\n\(log(last: 30))") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("\(name) did not serve the web app in time:\n\(log(last: 30))")
    }

    /// SIGTERM, then waits for a clean exit.
    public func stop() async throws {
        guard let process = lock.withLock({ self.process }), process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(20)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        guard !process.isRunning else {
            kill()
            throw HarnessError("\(name) did not stop within 20 s of SIGTERM")
        }
        guard process.terminationStatus == 0 else { throw HarnessError("\(name) exited with \(process.terminationStatus) on SIGTERM:\n\(log(last: 20))") }
    }

    /// SIGKILL: no chance to clean up.
    public func kill() {
        guard let process = lock.withLock({ self.process }), process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public func setPeers(_ peers: [PeerConfig]) throws {
        try PeerListEditor(path: configPath, defaults: DaemonConfig.machineDefaults()).save(peers)
    }

    /// Saves the peer list and waits until the running daemon has reloaded
    /// this list (a "config reloaded" log line, written after the save, with
    /// this many peers), instead of sleeping.
    public func setPeersAndWaitForReload(_ peers: [PeerConfig], timeout: Duration = .seconds(15)) async throws {
        let before = log().utf8.count
        try setPeers(peers)
        let reloaded = {
            let after = String(decoding: self.log().utf8.dropFirst(before), as: UTF8.self)
            return after.split(separator: "\n").contains { $0.contains("config reloaded") && $0.contains("peers=\(peers.count)") }
        }
        guard try await eventually(timeout: timeout, every: .milliseconds(20), reloaded) else {
            throw HarnessError("\(name) did not reload its config:\n\(log(last: 20))")
        }
    }

    /// A peer entry for this daemon, as another daemon would configure it.
    public func asPeer(dial: Bool = true, mode: PeerMode = .sendReceive) -> PeerConfig {
        PeerConfig(deviceID: deviceID, name: name, address: dial ? address : nil, mode: mode)
    }

    /// The daemon's database, opened directly (as `syncctl` does).
    public func store() throws -> Store {
        try Store(path: directory.appendingPathComponent("data.db").path)
    }

    public func digest() throws -> String { try store().digest().hex }

    public func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    public func log(last lines: Int) -> String { log().split(separator: "\n").suffix(lines).joined(separator: "\n") }

    /// Waits until every configured peer is connected and caught up.
    public func waitUntilInSync(timeout: Duration = .seconds(30)) async throws {
        let synced = try await eventually(timeout: timeout) {
            guard let peers = try control(ControlRequest(command: "status")).status?.peers, !peers.isEmpty else { return false }
            return peers.allSatisfy { $0.state == "connected" && ($0.caughtUp || $0.mode == PeerMode.sendOnly.rawValue) }
        }
        guard synced else { throw HarnessError("\(name) did not get in sync with its peers:\n\(log(last: 30))") }
    }

    public func status() throws -> DaemonStatus {
        guard let status = try control(ControlRequest(command: "status")).status else { throw HarnessError("no status from \(name)") }
        return status
    }

    /// Asks the daemon over its control socket.
    public func control(_ request: ControlRequest, timeout: Double = 10) throws -> ControlResponse {
        try ControlClient(path: directory.appendingPathComponent("control.sock").path).send(request, timeout: timeout)
    }
}

/// Configures each pair as peers of each other; the first of each pair dials.
public func connect(_ pairs: [(DaemonProcess, DaemonProcess)], modes: [String: PeerMode] = [:]) throws {
    var peers: [String: [PeerConfig]] = [:]
    var daemons: [String: DaemonProcess] = [:]
    for (dialer, listener) in pairs {
        daemons[dialer.name] = dialer
        daemons[listener.name] = listener
        peers[dialer.name, default: []].append(listener.asPeer(dial: true, mode: modes["\(dialer.name)->\(listener.name)"] ?? .sendReceive))
        peers[listener.name, default: []].append(dialer.asPeer(dial: false, mode: modes["\(listener.name)->\(dialer.name)"] ?? .sendReceive))
    }
    for (name, list) in peers { try daemons[name]!.setPeers(list) }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds or the timeout passes.
public func eventually(timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(50), _ condition: () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? condition()) == true { return true }
        try await Task.sleep(for: interval)
    }
    return try condition()
}
