import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// LAN discovery's driver (docs/operations.md, "LAN discovery"): announces
/// this daemon on the local network and feeds what it hears into
/// `PeerAddresses`. The rules are in `Announcement`, `AnnouncementSource`,
/// `AddressBook` and `AnnounceSchedule`; this type only moves datagrams.
///
/// It sends nothing unless the config says `discovery: lan` at the moment
/// of sending: `syncd` starts it only then, and a reload that turns
/// discovery off closes its sockets within a second. Best effort
/// throughout: a socket that cannot be opened or a send that fails is
/// logged and never stops the daemon.
///
/// Sockets: IPv4 UDP on 0.0.0.0:`discovery_port` (SO_BROADCAST), sending to
/// the broadcast address of each interface that has one; IPv6 UDP on
/// [::]:`discovery_port`, joined to `ipv6Group` on each multicast-capable
/// interface and sending to it interface by interface. Loopback interfaces
/// are skipped. Both set SO_REUSEADDR so that several daemons on one host
/// hear each other.
public final class LANDiscovery: Sendable {
    let device: DeviceID
    let configBox: ConfigBox
    let addresses: PeerAddresses
    let logger: Logger
    let group: any EventLoopGroup
    /// This process's instance (`Announcement.instance`).
    let instance: UInt64
    /// The port the peer listener bound (known once it listens; with
    /// `listen: …:0` only then).
    private let listenPort = Mutex<Int?>(nil)
    /// Per peer, when its last learned addresses were logged at info.
    private let logged = Mutex<[DeviceID: [Date]]>([:])
    /// This machine's subnets, read with the interfaces at each announcement:
    /// an announcement from off-link is dropped.
    private let subnets = Mutex<[AnnouncementSource.Subnet]>([])
    /// When to announce; one per socket period (`runSockets`).
    private let schedule = Mutex(AnnounceSchedule(interval: 30, start: 0))

    /// The IPv6 group: link-local scope (ff12::, transient), so routers never forward it.
    public static let ipv6Group = "ff12::2287"
    /// Datagrams waiting to be read; past it the newest are kept.
    public static let receiveBuffer = 256
    /// How often the sender looks whether an announcement is due, the
    /// config changed, or the learned addresses need writing.
    static let tick: Duration = .milliseconds(100)
    /// New addresses of one peer logged at info per minute (the rest at
    /// debug): a peer that moves is always logged, a forger cycling
    /// addresses does not flood the log.
    static let loggedPerMinute = AddressBook.maxPerDevice

    public init(device: DeviceID, config: ConfigBox, addresses: PeerAddresses, logger: Logger, instance: UInt64,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.device = device
        configBox = config
        self.addresses = addresses
        self.logger = logger
        self.instance = instance
        self.group = group
    }

    /// Called with the address the peer listener bound.
    public func listening(on address: SocketAddress) {
        listenPort.withLock { $0 = address.port }
    }

    /// Runs until cancelled; idle while the config says discovery is off.
    public func run() async {
        var warnedLoopback = false
        while !Task.isCancelled {
            let config = configBox.config
            guard config.discovery == .lan else {
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            if !AnnouncementTargets.announces(listen: config.listen), !warnedLoopback {
                warnedLoopback = true
                logger.warning("LAN discovery is on but syncd listens on loopback, which peers cannot reach: it learns peers' addresses and does not announce itself",
                               metadata: ["listen": "\(config.listen)"])
            }
            addresses.active = true
            await runSockets(port: config.discoveryPort, interval: config.discoveryIntervalSeconds)
            addresses.active = false
        }
    }

    /// One period with the same port and interval: returns when the config
    /// turns discovery off or changes either, or when no socket could be opened.
    private func runSockets(port: Int, interval: Double) async {
        let (stream, continuation) = AsyncStream<(bytes: [UInt8], from: SocketAddress)>.makeStream(
            bufferingPolicy: .bufferingNewest(Self.receiveBuffer))
        let v4 = await bind(host: "0.0.0.0", port: port, continuation: continuation)
        let v6 = await bind(host: "::", port: port, continuation: continuation)
        defer {
            continuation.finish()
            v4?.close(promise: nil)
            v6?.close(promise: nil)
        }
        guard v4 != nil || v6 != nil else {
            logger.error("LAN discovery cannot open its UDP port; trying again in a minute", metadata: ["port": "\(port)"])
            try? await Task.sleep(for: .seconds(60))
            return
        }
        logger.info("LAN discovery on", metadata: ["port": "\(port)", "interval_seconds": "\(interval)",
                                                   "ipv4": "\(v4 != nil)", "ipv6": "\(v6 != nil)"])
        let clock = ContinuousClock()
        let origin = clock.now
        let seconds: @Sendable () -> Double = { (clock.now - origin).seconds }
        schedule.withLock { $0 = AnnounceSchedule(interval: interval, start: 0) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await datagram in stream { self.handle(datagram.bytes, from: datagram.from, at: seconds()) }
            }
            group.addTask {
                var joined = Set<Int>()
                while !Task.isCancelled {
                    let config = self.configBox.config
                    guard config.discovery == .lan, config.discoveryPort == port, config.discoveryIntervalSeconds == interval else {
                        self.logger.info(config.discovery == .lan ? "LAN discovery restarts with the new port or interval" : "LAN discovery off (config reloaded)")
                        break
                    }
                    let now = seconds()
                    if self.schedule.withLock({ $0.isDue(at: now) }) {
                        let devices: [NIONetworkDevice]
                        do { devices = try System.enumerateDevices() } catch {
                            self.logger.warning("LAN discovery cannot list the network interfaces", metadata: ["error": "\(error)"])
                            devices = []
                        }
                        self.subnets.withLock { $0 = Self.subnets(of: devices) }
                        // Interfaces come and go (a cable, a new address): join the group on new ones.
                        if let v6 { self.join(v6, on: devices, joined: &joined) }
                        let families = AnnouncementTargets.families(listen: config.listen)
                        if let listen = self.listenPort.withLock({ $0 }), listen > 0 {
                            self.announce(listenPort: listen, discoveryPort: port, on: devices,
                                          v4: families.ipv4 ? v4 : nil, v6: families.ipv6 ? v6 : nil)
                        }
                        self.schedule.withLock { $0.sent(at: now) }
                    }
                    await self.saveIfDue()
                    try? await Task.sleep(for: Self.tick)
                }
                continuation.finish()
            }
        }
        await saveIfDue()
    }

    private func bind(host: String, port: Int, continuation: AsyncStream<(bytes: [UInt8], from: SocketAddress)>.Continuation) async -> Channel? {
        var bootstrap = DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Announcement.maxDatagramBytes))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(DatagramReceiver(continuation)) }
            }
        if host == "::" {
            bootstrap = bootstrap.channelOption(ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
        } else {
            bootstrap = bootstrap.channelOption(.socketOption(.so_broadcast), value: 1)
        }
        do {
            return try await bootstrap.bind(host: host, port: port).get()
        } catch {
            // No IPv6 on this host (or no IPv4) is no fault: the other family still works.
            logger.notice("LAN discovery cannot open a UDP socket", metadata: ["address": "\(host == "::" ? "[::]" : host):\(port)", "error": "\(error)"])
            return nil
        }
    }

    /// The IPv6 interfaces announcements go out of and are heard on: each
    /// multicast-capable, non-loopback interface with an IPv6 address, once.
    static func ipv6Interfaces(_ devices: [NIONetworkDevice]) -> [NIONetworkDevice] {
        var interfaces: [Int: NIONetworkDevice] = [:]
        for device in devices where device.multicastSupported && !isLoopback(device) {
            if case .v6 = device.address, interfaces[device.interfaceIndex] == nil { interfaces[device.interfaceIndex] = device }
        }
        return interfaces.sorted { $0.key < $1.key }.map(\.value)
    }

    /// Joins `ipv6Group` on interfaces not joined yet.
    private func join(_ v6: Channel, on devices: [NIONetworkDevice], joined: inout Set<Int>) {
        guard let group = try? SocketAddress(ipAddress: Self.ipv6Group, port: 0) else { return }
        for device in Self.ipv6Interfaces(devices) where !joined.contains(device.interfaceIndex) {
            joined.insert(device.interfaceIndex)
            (v6 as? MulticastChannel)?.joinGroup(group, device: device).whenFailure { [logger] error in
                logger.debug("LAN discovery cannot join its IPv6 group", metadata: ["interface": "\(device.name)", "error": "\(error)"])
            }
        }
    }

    /// Sends our announcement out of every non-loopback interface, over the
    /// families given a channel.
    private func announce(listenPort: Int, discoveryPort: Int, on devices: [NIONetworkDevice], v4: Channel?, v6: Channel?) {
        // Checked again right before anything leaves the host.
        guard configBox.config.discovery == .lan, let port = UInt16(exactly: listenPort), port > 0 else { return }
        let payload = Announcement(device: device, port: port, instance: instance).encoded()
        var sent = 0
        if let v4 {
            var targets = Set<[UInt8]>()
            for device in devices where !Self.isLoopback(device) && device.pointToPointDestinationAddress == nil {
                // The interface's own (directed) broadcast address: it stays on that link.
                guard case .v4(let address) = device.address,
                      let bytes = AnnouncementTargets.broadcast(address: Self.bytes(address.address.sin_addr), netmask: device.netmask.flatMap(Self.v4Bytes),
                                                                reported: device.broadcastAddress.flatMap(Self.v4Bytes)),
                      targets.insert(bytes).inserted else { continue }
                var destination = address.address
                withUnsafeMutableBytes(of: &destination.sin_addr) { raw in for index in 0..<4 { raw[index] = bytes[index] } }
                destination.sin_port = in_port_t(UInt16(discoveryPort).bigEndian)
                send(payload, to: SocketAddress(destination), on: v4)
                sent += 1
            }
        }
        if let v6, case .v6(let group)? = try? SocketAddress(ipAddress: Self.ipv6Group, port: discoveryPort) {
            for device in Self.ipv6Interfaces(devices) {
                var destination = group.address
                destination.sin6_scope_id = UInt32(device.interfaceIndex)  // a link-local group needs its interface
                send(payload, to: SocketAddress(destination), on: v6)
                sent += 1
            }
        }
        logger.trace("sent a LAN discovery announcement", metadata: ["datagrams": "\(sent)"])
    }

    private func send(_ payload: [UInt8], to address: SocketAddress, on channel: Channel) {
        let envelope = AddressedEnvelope(remoteAddress: address, data: channel.allocator.buffer(bytes: payload))
        channel.writeAndFlush(envelope).whenFailure { [logger] error in
            logger.debug("LAN discovery could not send", metadata: ["to": "\(address)", "error": "\(error)"])
        }
    }

    private func handle(_ bytes: [UInt8], from address: SocketAddress, at seconds: Double) {
        let announcement: Announcement
        do { announcement = try Announcement.decode(bytes) } catch {
            logger.trace("ignored a datagram on the discovery port", metadata: ["from": "\(address)", "reason": "\(error)"])
            return
        }
        guard let source = Self.source(of: address) else { return }
        guard source.isOnLink(subnets.withLock({ $0 })) else {
            logger.trace("ignored an announcement from off-link", metadata: ["from": "\(address)"])
            return
        }
        let config = configBox.config
        let peers = Set(config.peers.map(\.deviceID))
        let outcome = addresses.receive(announcement, from: source, own: device, peers: peers, now: Date())
        let name = config.peer(announcement.device)?.name ?? announcement.device.short
        switch outcome {
        case .learned(let learned, let replaced):
            var metadata: Logger.Metadata = ["peer": "\(name)", "address": "\(learned)"]
            if let replaced { metadata["replaced"] = "\(replaced)" }
            let now = Date()
            let loud = logged.withLock { logged in
                let recent = (logged[announcement.device] ?? []).filter { now.timeIntervalSince($0) < 60 }
                logged[announcement.device] = recent.count < Self.loggedPerMinute ? recent + [now] : recent
                return recent.count < Self.loggedPerMinute
            }
            logger.log(level: loud ? .info : .debug, "learned a peer's address from LAN discovery", metadata: metadata)
        case .refreshed(let address, becameFirst: true):
            logger.debug("a peer announces itself from another known address", metadata: ["peer": "\(name)", "address": "\(address)"])
        case .refreshed, .own, .notAPeer:
            break
        case .unusableSource:
            logger.debug("ignored a peer's announcement from an address it cannot be dialed at", metadata: ["peer": "\(name)", "from": "\(address)"])
        }
        if announcement.device != device, peers.contains(announcement.device) {
            schedule.withLock { _ = $0.heard(announcement.device, instance: announcement.instance, at: seconds) }
        }
    }

    private func saveIfDue() async {
        guard let book = addresses.takeSave(now: Date()) else { return }
        let addresses = self.addresses
        do { try await Blocking.run { try addresses.write(book) } } catch {
            logger.warning("cannot save the learned addresses", metadata: ["path": "\(addresses.file.path)", "error": "\(error)"])
        }
    }

    static func bytes<T>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    /// Each interface's address and netmask as bytes.
    static func subnets(of devices: [NIONetworkDevice]) -> [AnnouncementSource.Subnet] {
        devices.compactMap { device in
            switch (device.address, device.netmask) {
            case (.v4(let address), .v4(let mask)):
                return .init(address: bytes(address.address.sin_addr), mask: bytes(mask.address.sin_addr))
            case (.v6(let address), .v6(let mask)):
                return .init(address: bytes(address.address.sin6_addr), mask: bytes(mask.address.sin6_addr))
            default:
                return nil
            }
        }
    }

    static func v4Bytes(_ address: SocketAddress) -> [UInt8]? {
        if case .v4(let v4) = address { return bytes(v4.address.sin_addr) }
        return nil
    }

    static func isLoopback(_ device: NIONetworkDevice) -> Bool {
        switch device.address {
        case .v4(let address): withUnsafeBytes(of: address.address.sin_addr) { $0[0] } == 127
        case .v6(let address): withUnsafeBytes(of: address.address.sin6_addr) { Array($0) } == Array(repeating: 0, count: 15) + [1]
        default: true
        }
    }

    /// The source of a datagram as `AnnouncementSource` (bytes, and the
    /// interface name of a link-local IPv6 source).
    static func source(of address: SocketAddress) -> AnnouncementSource? {
        switch address {
        case .v4(let v4):
            return AnnouncementSource(.v4(withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }))
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            var zone: String?
            if v6.address.sin6_scope_id != 0 {
                var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
                if if_indextoname(v6.address.sin6_scope_id, &name) != nil {
                    zone = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            }
            return AnnouncementSource(.v6(bytes, zone: zone))
        default:
            return nil
        }
    }
}

/// Hands each datagram's bytes and source to the discovery loop, through a
/// bounded stream (`LANDiscovery.receiveBuffer`).
final class DatagramReceiver: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let continuation: AsyncStream<(bytes: [UInt8], from: SocketAddress)>.Continuation

    init(_ continuation: AsyncStream<(bytes: [UInt8], from: SocketAddress)>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        continuation.yield((Array(envelope.data.readableBytesView), envelope.remoteAddress))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A UDP socket reports ICMP errors of earlier sends here; they say nothing about what we receive.
    }
}
