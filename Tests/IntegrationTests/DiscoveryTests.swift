import Foundation
import SyncCore
import Testing
import TestSupport

extension Integration {
    /// LAN discovery (docs/operations.md, "LAN discovery") with real daemons,
    /// each in a network namespace this test makes (two namespaces joined by
    /// a veth pair): their broadcasts and multicasts never reach the
    /// machine's own network. No other test turns discovery on, and
    /// `DaemonProcess.start` refuses a `discovery: lan` daemon outside a namespace.
    @Suite(.enabled(if: NetworkNamespacePair.available,
                    "needs root and iproute2 (`ip netns add`) to make network namespaces; LAN discovery is never tested outside them"))
    struct Discovery {
        let root = TemporaryDirectory("syncd-discovery")

        /// How long a peer that moved may take to be found again with the
        /// test's settings: the old connection is noticed dead within
        /// `idle_timeout_seconds` (5 s), the peer's announcement from its new
        /// address comes within `discovery_interval_seconds` (0.5 s), and
        /// the dialer tries a newly learned address at once (docs/operations.md).
        static let rediscoveryLimit: Duration = .seconds(20)

        static let settings = DaemonProcess.fastSettings + """

            discovery: lan
            discovery_interval_seconds: 0.5
            """

        func ref(_ text: String) -> RecordRef { RecordRef(parsing: text)! }

        /// Two daemons, one per namespace, each listing the other without an address.
        func pair(in network: NetworkNamespacePair, listen: String) throws -> (a: DaemonProcess, b: DaemonProcess) {
            let a = try DaemonProcess("a", in: root, settings: Self.settings), b = try DaemonProcess("b", in: root, settings: Self.settings)
            for (daemon, namespace) in [(a, network.a), (b, network.b)] {
                daemon.namespace = namespace.name
                daemon.listenHost = listen
                daemon.uiArgument = ""
            }
            try a.setPeers([b.asPeer(dial: false)])
            try b.setPeers([a.asPeer(dial: false)])
            return (a, b)
        }

        /// Where `daemon` has learned `peer` to be, most recently heard first.
        func learned(_ daemon: DaemonProcess, _ peer: DaemonProcess) throws -> [String] {
            try daemon.status().discovery?.learned.filter { $0.deviceID == peer.deviceID.description }.map(\.address) ?? []
        }

        /// An edit on `from` shows on `to` (so the two are connected now).
        func edit(on from: DaemonProcess, arrivesOn to: DaemonProcess, _ text: String, within timeout: Duration) async throws -> Bool {
            try from.store().update(ref("countries/cn"), [.set("notes", .text(text))], author: from.name)
            return try await eventually(timeout: timeout, every: .milliseconds(50)) {
                try to.store().record(ref("countries/cn"))?.value("notes") == .text(text)
            }
        }

        /// Starts both daemons and waits until each is in sync; how long that took.
        func startInSync(_ a: DaemonProcess, _ b: DaemonProcess) async throws -> Duration {
            let started = ContinuousClock.now
            try await a.start()
            try await b.start()
            try await a.waitUntilInSync(timeout: .seconds(20))
            try await b.waitUntilInSync(timeout: .seconds(20))
            return ContinuousClock.now - started
        }

        /// IPv4 (broadcast): two peers configured without addresses find
        /// each other and sync. Then both move to another subnet, so neither
        /// old address answers; each finds the other at its new address
        /// within `rediscoveryLimit`, and edits flow again.
        @Test func peersWithoutAddressesAreFoundAndFoundAgainAfterMoving() async throws {
            let network = try NetworkNamespacePair(ipv6: false, addressesA: ["10.231.0.1/24"], addressesB: ["10.231.0.2/24"])
            let (a, b) = try pair(in: network, listen: "0.0.0.0")
            defer {
                a.kill()
                b.kill()
                network.remove()
            }
            let inSync = try await startInSync(a, b)
            print("LAN discovery: peers without addresses in sync \(Int(inSync.seconds * 1_000)) ms after the first start")
            #expect(try learned(a, b).first == "10.231.0.2:\(b.port)", "\(a.log(last: 20))")
            #expect(try learned(b, a).first == "10.231.0.1:\(a.port)", "\(b.log(last: 20))")
            #expect(try await edit(on: a, arrivesOn: b, "found by discovery", within: .seconds(5)))
            #expect(a.log().contains("learned a peer's address from LAN discovery"))
            #expect(FileManager.default.fileExists(atPath: a.directory.appendingPathComponent("learned-addresses.json").path))

            // Both move: the old addresses and their subnet are gone.
            let moved = ContinuousClock.now
            try network.a.removeAddress("10.231.0.1/24")
            try network.a.addAddress("10.231.1.1/24")
            try network.b.removeAddress("10.231.0.2/24")
            try network.b.addAddress("10.231.1.2/24")
            let arrived = try await edit(on: a, arrivesOn: b, "found again after moving", within: Self.rediscoveryLimit)
            let rediscovery = ContinuousClock.now - moved
            print("LAN discovery: peers found again \(Int(rediscovery.seconds * 1_000)) ms after both moved (limit \(Self.rediscoveryLimit))")
            #expect(arrived, "no edit crossed within \(Self.rediscoveryLimit) of the move:\n\(a.log(last: 20))\n\(b.log(last: 20))")
            #expect(try await edit(on: b, arrivesOn: a, "and back", within: .seconds(5)))
            #expect(try learned(a, b).first == "10.231.1.2:\(b.port)")
            #expect(try learned(b, a).first == "10.231.1.1:\(a.port)")
            #expect(try learned(a, b).contains("10.231.0.2:\(b.port)"), "the old address is kept, tried after the new one")

            // Learned addresses are kept across a restart and tried first:
            // A comes back and dials B at once, before B is heard again.
            try await a.stop()
            try await a.start()
            #expect(try learned(a, b).first == "10.231.1.2:\(b.port)")
            try await a.waitUntilInSync(timeout: .seconds(20))
            for daemon in [a, b] { try await daemon.stop() }
        }

        /// IPv6 only (multicast, link-local addresses with their interface):
        /// no IPv4 address on the link at all.
        @Test func peersAreFoundOverIPv6LinkLocalMulticast() async throws {
            let network = try NetworkNamespacePair(ipv6: true, addressesA: [], addressesB: [])
            let (a, b) = try pair(in: network, listen: "::")
            defer {
                a.kill()
                b.kill()
                network.remove()
            }
            let inSync = try await startInSync(a, b)
            print("LAN discovery over IPv6: in sync \(Int(inSync.seconds * 1_000)) ms after the first start")
            let address = try #require(try learned(a, b).first)
            #expect(address.hasPrefix("[fe80::") && address.hasSuffix("%\(network.a.link)]:\(b.port)"), "\(address)")
            #expect(try await edit(on: b, arrivesOn: a, "found over IPv6", within: .seconds(5)))
            for daemon in [a, b] { try await daemon.stop() }
        }
    }

    /// Discovery settings that need no namespace because nothing is sent.
    @Suite struct DiscoveryOff {
        let root = TemporaryDirectory("syncd-discovery-off")

        /// The guard that keeps discovery off the machine's own network: a
        /// daemon whose config says `discovery: lan` is not started outside
        /// a namespace the test made.
        @Test func aDiscoveringDaemonIsNeverStartedOutsideANamespace() async throws {
            let daemon = try DaemonProcess("loose", in: root, settings: Discovery.settings)
            await #expect(throws: HarnessError.self) { try await daemon.start() }
            #expect(!daemon.isRunning)
        }

        /// `syncctl init --discovery` writes `discovery: lan` into the new
        /// config; without the flag (and on a config that exists) it stays off.
        @Test func initWritesDiscoveryLanOnlyWhenAsked() throws {
            let on = root.url.appendingPathComponent("on"), off = root.url.appendingPathComponent("off")
            let made = try Syncctl.run(["init", "--discovery", "--listen", "0.0.0.0:22870", "--data-dir", on.path, "--json"])
            #expect(made.status == 0, "\(made)")
            #expect((try made.json() as? [String: Any])?["discovery"] as? String == "lan")
            let config = try DaemonConfig.load(from: on.appendingPathComponent("config.yaml"), defaults: .machineDefaults())
            #expect(config.discovery == .lan && config.discoveryPort == DaemonConfig.defaultDiscoveryPort)
            #expect(try Syncctl.run(["init", "--data-dir", off.path]).status == 0)
            #expect(try DaemonConfig.load(from: off.appendingPathComponent("config.yaml"), defaults: .machineDefaults()).discovery == .off)
            let again = try Syncctl.run(["init", "--discovery", "--data-dir", off.path])
            #expect(again.stdout.contains("set `discovery: lan`"), "\(again)")
            #expect(try DaemonConfig.load(from: off.appendingPathComponent("config.yaml"), defaults: .machineDefaults()).discovery == .off)
        }
    }
}
