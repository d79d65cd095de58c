import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NIOCore
import NIOPosix
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// What an analyst sees on a fresh machine: `syncd` with no arguments.
    @Suite struct Startup {
        let root = TemporaryDirectory("syncd-startup")

        func mode(_ path: String) throws -> Int {
            try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! Int
        }

        @Test func firstStartCreatesTheEmbeddedDefaultAndTheSecondReusesIt() async throws {
            let home = root.url.appendingPathComponent("home")
            let expected = home.appendingPathComponent(".local/share/syncd")
            let daemon = DaemonProcess(unprepared: "default", directory: expected, environment: ["HOME": home.path])
            try await daemon.start()
            let first = daemon.printed
            for file in ["device-key.pem", "device-cert.pem", "config.yaml", "data.db"] {
                #expect(FileManager.default.fileExists(atPath: expected.appendingPathComponent(file).path), "\(file) missing")
            }
            #expect(try mode(expected.appendingPathComponent("device-key.pem").path) == 0o600)
            // Bound before the address is printed: `syncctl status` works at once.
            #expect(daemon.controlSocketReadyAtListening)
            let socket = expected.appendingPathComponent("control.sock").path
            #expect(try mode(socket) == 0o600)
            #expect(try mode(expected.path) == 0o700)
            #expect(first.contains("data directory: \(expected.path) (new)"))
            #expect(first.contains("records:        52 (seeded"))
            #expect(first.contains("listening:      127.0.0.1:"))
            let id = try #require(first.split(separator: "\n").first { $0.hasPrefix("device ID:") }).dropFirst("device ID:".count).trimmingCharacters(in: .whitespaces)
            #expect(DeviceID(id) != nil)
            #expect(try String(contentsOf: expected.appendingPathComponent("config.yaml"), encoding: .utf8).contains("# Peers this daemon syncs with"))
            let digest = try daemon.digest()
            try await daemon.stop()

            try await daemon.start()
            let second = daemon.printed
            #expect(daemon.controlSocketReadyAtListening)
            #expect(second.contains("device ID:      \(id)"))
            #expect(second.contains("data directory: \(expected.path)\n"))
            #expect(!second.contains("seeded"))
            #expect(try daemon.digest() == digest)
            try await daemon.stop()
        }

        @Test func environmentPicksTheDataDirectory() async throws {
            let chosen = root.url.appendingPathComponent("by-env")
            let daemon = DaemonProcess(unprepared: "env", directory: chosen, environment: ["SYNCD_DATA_DIR": chosen.path, "SYNCD_AUTHOR": "from-env"])
            try await daemon.start()
            #expect(daemon.printed.contains("author:         from-env"))
            #expect(FileManager.default.fileExists(atPath: chosen.appendingPathComponent("data.db").path))
            try await daemon.stop()
        }

        @Test func aBadConfigStopsTheDaemonWithTheKeyAndTheFix() async throws {
            let daemon = try DaemonProcess("bad", in: root)
            try Data("listen: 127.0.0.1:0\npeers:\n  - device_id: not-an-id\n".utf8).write(to: URL(fileURLWithPath: daemon.configPath))
            await #expect(throws: HarnessError.self) { try await daemon.start(timeout: .seconds(20)) }
            #expect(daemon.exitStatus == 1)
            #expect(daemon.log().contains("peers[0].device_id: 'not-an-id' is not a device ID"))
            #expect(!FileManager.default.fileExists(atPath: daemon.directory.appendingPathComponent("data.db").path), "started half-configured")
        }

        /// A second daemon on a data directory one runs on is refused at
        /// start, before it touches anything: the first keeps its control
        /// socket and its files.
        @Test func aSecondDaemonOnTheSameDataDirectoryIsRefused() async throws {
            let first = try DaemonProcess("first", in: root)
            try await first.start()
            let pid = try #require(first.pid)
            let second = try DaemonProcess(existing: "second", directory: first.directory)
            await #expect(throws: HarnessError.self) { try await second.start(timeout: .seconds(20)) }
            #expect(second.exitStatus == 1)
            #expect(second.log().contains("syncd (pid \(pid)) is running on the data directory \(first.directory.path) and holds it"), "\(second.log(last: 5))")
            // The first still answers on its control socket.
            #expect(try first.status().highestSeq > 0)
            try await first.stop()
            // Stopped, it leaves the directory free.
            try await second.start()
            try await second.stop()
        }

        /// A script that runs `syncctl status` on the `listening:` line finds
        /// the control socket: syncd binds it before it prints the line. Ten
        /// starts, as the order of two services was once left to chance
        /// (the socket came just after the line now and then).
        @Test func theControlSocketAnswersFromTheListeningLine() async throws {
            let daemon = try DaemonProcess("ready", in: root)
            for round in 1...10 {
                try await daemon.start()
                #expect(daemon.controlSocketReadyAtListening, "round \(round): no control.sock on the listening line")
                #expect(try daemon.status().highestSeq > 0)
                try await daemon.stop()
            }
        }

        /// The control socket is bound in a folder only this user enters,
        /// made 0600, then renamed into place: never reachable with the
        /// umask's mode. A binding folder a killed daemon left is removed; a
        /// file that is not a socket where the socket goes stops the start
        /// with what to do, and is left as it is.
        @Test func theControlSocketIsPrivateFromItsFirstInstant() async throws {
            let daemon = try DaemonProcess("socket", in: root)
            let stale = daemon.directory.appendingPathComponent(".cAbC123")
            try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
            // The socket a killed daemon bound there (a file named so is not removed).
            let left = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(unixDomainSocketPath: stale.appendingPathComponent("s").path).get()
            try await left.close()
            let socket = daemon.directory.appendingPathComponent("control.sock").path
            // Watched from before the start: the first time it shows, it is 0600.
            let watch = Task.detached { () -> Int? in
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    if let mode = try? FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int { return mode }
                    try? await Task.sleep(for: .microseconds(200))
                }
                return nil
            }
            try await daemon.start()
            #expect(await watch.value == 0o600)
            #expect(!FileManager.default.fileExists(atPath: stale.path))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: daemon.directory.path).filter { $0.hasPrefix(".c") }
            #expect(leftovers.isEmpty, "\(leftovers)")
            try await daemon.stop()

            #expect(FileManager.default.createFile(atPath: socket, contents: Data("notes".utf8)))
            // (It may have printed its address before the socket's turn came.)
            try? await daemon.start(timeout: .seconds(20))
            let deadline = ContinuousClock.now + .seconds(20)
            while daemon.exitStatus == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(daemon.exitStatus == 1)
            #expect(daemon.log().contains("a file that is not a socket stands there"), "\(daemon.log(last: 5))")
            #expect(FileManager.default.contents(atPath: socket) == Data("notes".utf8))
        }

        @Test func metricsAreServedOnTheConfiguredAddress() async throws {
            let port = try freePort()
            let a = try DaemonProcess("a", in: root, extraConfig: "metrics: 127.0.0.1:\(port)")
            let b = try DaemonProcess("b", in: root)
            for daemon in [a, b] { try await daemon.start() }
            try connect([(a, b)])
            try await a.waitUntilInSync()
            try b.store().update(RecordRef(parsing: "countries/cn")!, [.set("notes", .text("metered"))], author: "b")
            #expect(try await eventually { try a.store().record(RecordRef(parsing: "countries/cn")!)?.value("notes") == .text("metered") })
            // Metrics are updated as the daemon applies and reports: poll, no fixed wait.
            var text = "", status = 0
            let names = ["syncd_slots_applied_total", "syncd_peer_connected", "syncd_peer_lag_slots", "syncd_bytes_received_total", "syncd_conflicts_open"]
            let deadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < deadline {
                let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
                status = (response as? HTTPURLResponse)?.statusCode ?? 0
                text = String(decoding: data, as: UTF8.self)
                if status == 200 && names.allSatisfy(text.contains) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(status == 200)
            for name in names {
                #expect(text.contains(name), "\(name) missing from /metrics")
            }
            for daemon in [a, b] { try await daemon.stop() }
        }
    }
}

/// A TCP port nobody listens on right now.
func freePort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
    guard bound == 0 else { throw HarnessError("cannot bind a probe socket") }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
