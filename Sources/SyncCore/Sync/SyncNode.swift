import Synchronization
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One daemon's replication: listens for peers, dials configured ones with
/// backoff, and runs a `PeerSession` per authenticated connection.
public final class SyncNode: Sendable {
    public let store: Store
    public let identity: DeviceIdentity
    public let configBox: ConfigBox
    public let registry: PeerRegistry
    public let notifier: ChangeNotifier
    public let metrics: SyncMetrics
    /// This daemon's dataset lineage: its seed schema's name, sent in the
    /// hello; peers of another lineage are refused (`HelloRules`).
    public let lineage: String
    let tls: TLSSetup
    let logger: Logger
    let group: MultiThreadedEventLoopGroup
    let teamCA: TeamCACache
    /// Inbound connections open now, handshaking or in session.
    let inbound = InboundCount()
    /// Devices that dialed without being peers (`syncctl peers pending`).
    let pending: PendingRecorder
    /// Devices shut out (`syncctl peers block`), the team CA notwithstanding.
    public let blocked: BlockedDevices
    /// Invitations this daemon made (`syncctl invite`; replication-model §6.2).
    let invitations: WatchedJSONFile<InvitationBook>
    /// Invitations this daemon is to prove to the inviters it dials (`syncctl join`).
    let joinClaims: JoinClaimFile
    /// The config file invited devices are added to; nil refuses every claim.
    let configPath: String?
    /// Revocations signed by the team CA, checked and held (replication-model §6.3).
    public let revocations: WatchedJSONFile<RevocationList>
    /// Relay generation, refused count, refused revocations remembered, and
    /// the revocations already obeyed (logged and enforced), by fingerprint.
    /// `unsaved`: checked revocations that could not be written to
    /// `revocations.json` (full disk, damaged file): obeyed and relayed from
    /// memory meanwhile, saved at the next chance.
    let revocationState = Mutex((generation: 0, refused: UInt64(0), refusedHashes: Set<[UInt8]>(), obeyed: Set<[UInt8]>(), unsaved: [SignedRevocation]()))
    /// Invitation claims refused since start, by reason.
    let claimRefusals = Mutex<[String: Int]>([:])
    /// Joins by snapshot: failures per peer, snapshots served (`SyncNode+Join`).
    let joins = JoinBook()
    /// Folds of the databases kept aside, asked for by sessions that synced.
    let keptAsideFolds: KeptAsideFolds

    /// The address the listener is bound to (the real port when the config says 0).
    private let bound = Mutex<HostPort?>(nil)
    public var listenAddress: HostPort { bound.withLock { $0 } ?? configBox.config.listen }
    /// Peers' addresses learned by LAN discovery (`learned-addresses.json`),
    /// dialed before the configured ones when the config says `discovery: lan`.
    public let addresses: PeerAddresses

    /// Inbound connections held at once; more are closed on accept. Each
    /// buffers at most one frame, and before its hello at most
    /// `FrameDecoder.helloFrameLimit`: memory stays bounded (operations "Limits").
    public static let maxInboundConnections = 256
    /// Inbound connections from one address at once (handshaking ones too).
    public static let maxInboundConnectionsPerHost = 32

    /// `lineage` is the name of the seed schema the store was opened on
    /// (`DataDirectory.seedSchema()`); by default `store.seed`'s.
    public init(store: Store, identity: DeviceIdentity, config: ConfigBox, configPath: String? = nil, lineage: String? = nil, logger: Logger) throws {
        self.store = store
        self.lineage = lineage ?? store.seed.name
        self.identity = identity
        configBox = config
        registry = PeerRegistry()
        notifier = try ChangeNotifier(store: store, sqlEdits: SQLEditTakeUp(store: store, author: { config.config.author }, logger: logger))
        metrics = SyncMetrics()
        tls = try TLSSetup(identity: identity)
        self.logger = logger
        group = MultiThreadedEventLoopGroup.singleton
        teamCA = TeamCACache(logger: logger)
        keptAsideFolds = KeptAsideFolds(store: store, logger: logger)
        let directory = URL(fileURLWithPath: store.path).deletingLastPathComponent()
        var interruptedJoins: [DeviceID] = []
        pending = PendingRecorder(file: PendingDeviceFile(directory: directory), logger: logger)
        // A killed restore's staged copies (the restore holds syncd.lock, as this daemon does now).
        for name in Snapshots.removeRestoreLeftovers(in: directory) {
            logger.info("removed what a restore killed before its end left (the database was not changed by it, or was restored whole)", metadata: ["file": "\(name)"])
        }
        // Join snapshots a killed daemon left behind (taken for a peer, or half received).
        try? FileManager.default.removeItem(at: directory.appendingPathComponent("join-snapshots"))
        // Used snapshots whose removal a stop cut short (not joins cut short).
        try? FileManager.default.removeItem(at: directory.appendingPathComponent(Store.joinTrashFolder))
        // The database as it was before a join a crash interrupted: merged
        // back after the next sync, never removed with the leftovers below.
        // A copy the open could not read as it stands (torn, its journal
        // now rolled back) is readable then: never a dot it holds again.
        try store.takeUpLeftoverJoinCopies(logger: logger)
        // A join cut short: not asked of that peer again for a while (a
        // snapshot that kills the joiner must not be taken in a loop).
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        where name.hasPrefix("joining-") && !name.hasPrefix(Store.joinAsideStagingPrefix) {
            if let device = JoinBook.device(inLeftover: name) { interruptedJoins.append(device) }
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        }
        let report: @Sendable (LockedJSONFileError) -> Void = { problem in
            logger.error("a file this daemon obeys is damaged; what was read before still holds", metadata: ["problem": "\(problem)"])
        }
        // The lists that keep devices out must be readable at start: a
        // damaged one would let everyone on it back in.
        _ = try BlockListFile(directory: directory).loadChecked()
        _ = try RevocationFile(directory: directory).loadChecked()
        blocked = BlockedDevices(file: BlockListFile(directory: directory), onProblem: report)
        addresses = PeerAddresses(file: LearnedAddressFile(directory: directory))
        invitations = WatchedJSONFile(file: InvitationFile(directory: directory), onProblem: report)
        joinClaims = JoinClaimFile(directory: directory)
        self.configPath = configPath
        revocations = WatchedJSONFile(file: RevocationFile(directory: directory), onProblem: report)
        let held = Set(revocations.cached.revocations.map(Self.fingerprint))
        revocationState.withLock { $0.obeyed = held }
        for device in interruptedJoins { joins.noteFailure(device) }
    }

    /// Tries again, when due, the folds of databases kept aside that a
    /// passing failure stopped (`KeptAsideRetry`); until cancelled.
    public func retryKeptAsideFolds() async { await keptAsideFolds.retryWhenDue() }

    /// Accepts peers on the configured address until cancelled.
    /// `onBound` receives the bound address (useful with port 0).
    public func runListener(onBound: @Sendable (SocketAddress) -> Void = { _ in }) async throws {
        let listen = configBox.config.listen
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: listen.host, port: listen.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = ConnectionContext(remote: channel.remoteAddress?.description ?? "unknown")
                    let ssl = NIOSSLServerHandler(context: self.tls.serverContext,
                                                  customVerificationCallback: self.verifier(connection, expected: nil))
                    try self.configure(channel, ssl: ssl, connection: connection)
                    return (try NIOAsyncChannel<SyncMessage, SyncMessage>(wrappingChannelSynchronously: channel), connection)
                }
            }
        if let address = server.channel.localAddress {
            if let ip = address.ipAddress, let port = address.port { bound.withLock { $0 = HostPort(host: ip, port: port) } }
            onBound(address)
        }
        logger.info("listening for peers", metadata: ["address": "\(server.channel.localAddress?.description ?? "\(listen)")"])
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await (child, connection) in inbound {
                    let host = child.channel.remoteAddress?.ipAddress ?? "unknown"
                    guard self.inbound.enter(host: host, limit: Self.maxInboundConnections, perHost: Self.maxInboundConnectionsPerHost) else {
                        logger.warning("refused connection: too many inbound connections open", metadata: [
                            "remote": "\(connection.remote)", "limit": "\(Self.maxInboundConnections)", "per_host": "\(Self.maxInboundConnectionsPerHost)"])
                        metrics.refusedHandshake()
                        try? await child.channel.close()
                        continue
                    }
                    group.addTask {
                        await self.runConnection(child, connection: connection, dialedByUs: false, expected: nil)
                        self.inbound.leave(host: host)
                    }
                }
            }
        }
    }

    /// Keeps one dialer per configured peer that has somewhere to be dialed
    /// (a configured address, or with LAN discovery a learned one),
    /// following config reloads and newly learned addresses.
    public func runDialers() async {
        await withDiscardingTaskGroup { group in
            var running: [DeviceID: (address: HostPort?, task: Task<Void, Never>)] = [:]
            var generation = -1
            while !Task.isCancelled {
                if configBox.generation != generation {
                    generation = configBox.generation
                    let config = configBox.config
                    for session in await registry.configure(config.peers) {
                        logger.info("closing a connection: its peer was removed from the config or changed mode")
                        await closeSession(session)
                    }
                    if config.discovery == .lan { addresses.prune(keeping: Set(config.peers.map(\.deviceID)), now: Date()) }
                }
                let config = configBox.config
                for peer in config.peers where !dialCandidates(for: peer, config: config).isEmpty {
                    // A new configured address restarts the dialer (and its backoff).
                    if let current = running[peer.deviceID], current.address == peer.address { continue }
                    running[peer.deviceID]?.task.cancel()
                    let task = Task { await self.dial(peer.deviceID) }
                    running[peer.deviceID] = (peer.address, task)
                }
                for (device, entry) in running where config.peer(device).map({ dialCandidates(for: $0, config: config).isEmpty }) ?? true {
                    entry.task.cancel()
                    running[device] = nil
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
            for entry in running.values { entry.task.cancel() }
            _ = group
        }
    }

    /// Where to dial `peer`, in the order to try: with `discovery: lan`, the
    /// addresses learned for it (most recently heard first), then its
    /// configured address; otherwise the configured address alone.
    func dialCandidates(for peer: PeerConfig, config: DaemonConfig) -> [HostPort] {
        guard config.discovery == .lan, addresses.active else { return peer.address.map { [$0] } ?? [] }
        return addresses.candidates(for: peer.deviceID, configured: peer.address, now: Date())
    }

    /// Dials one peer until cancelled, reconnecting with capped exponential
    /// backoff and jitter. Each attempt takes the next of its candidates, so
    /// a peer whose configured address stopped answering is reached at the
    /// address it was last heard from; a connection that got through, or a
    /// newly learned address, starts again from the first candidate.
    func dial(_ device: DeviceID) async {
        var backoff = ReconnectBackoff(initialMillis: UInt64(configBox.config.reconnectInitialMillis),
                                       maxMillis: UInt64(configBox.config.reconnectMaxMillis))
        var attempt = 0
        var seenAddresses = addresses.version(of: device)
        // A newly learned address is tried at once, at most this often (a
        // forger announcing new ports must not set our dialing rate).
        var lastWoken = ContinuousClock.now - .seconds(60)
        var priority: HostPort?
        var lastFailure = ""
        var lastFailureLogged = ContinuousClock.now - .seconds(60)
        while !Task.isCancelled {
            let config = configBox.config
            guard let peer = config.peer(device) else { return }
            let candidates = dialCandidates(for: peer, config: config)
            guard !candidates.isEmpty else { return }
            if await registry.isConnected(device) {
                attempt = 0
                try? await Task.sleep(for: .milliseconds(500))
                continue
            }
            if addresses.version(of: device) != seenAddresses {
                seenAddresses = addresses.version(of: device)
                if ContinuousClock.now - lastWoken >= Self.newAddressInterval, let newest = addresses.newest(for: device), candidates.contains(newest) {
                    lastWoken = ContinuousClock.now
                    priority = newest
                }
            }
            let address: HostPort
            if let next = priority {
                address = next
                priority = nil
            } else {
                address = candidates[attempt % candidates.count]
                attempt += 1
            }
            await registry.update(device) { $0.state = "connecting" }
            let started = ContinuousClock.now
            do {
                let connection = ConnectionContext(remote: address.description)
                let channel = try await ClientBootstrap(group: group)
                    .connectTimeout(.seconds(10))
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connect(host: address.host, port: address.port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let ssl = try NIOSSLClientHandler(context: self.tls.clientContext, serverHostname: nil,
                                                              customVerificationCallback: self.verifier(connection, expected: device))
                            try self.configure(channel, ssl: ssl, connection: connection)
                            return try NIOAsyncChannel<SyncMessage, SyncMessage>(wrappingChannelSynchronously: channel)
                        }
                    }
                await runConnection(channel, connection: connection, dialedByUs: true, expected: device)
                if connection.device == device {
                    attempt = 0
                    if config.discovery == .lan { addresses.connected(device, via: address, now: Date()) }
                }
            } catch {
                // The same failure again is logged once a minute (a forged address fails every time).
                let failure = "\(address) \(error)"
                let loud = failure != lastFailure || ContinuousClock.now - lastFailureLogged >= .seconds(60)
                if loud { lastFailure = failure; lastFailureLogged = ContinuousClock.now }
                logger.log(level: loud ? .info : .debug, "cannot reach peer", metadata: ["peer": "\(peer.name)", "address": "\(address)", "error": "\(error)"])
                await registry.update(device) { $0.state = "disconnected"; $0.lastError = "\(error)" }
            }
            let wait = backoff.next(lastedMillis: (ContinuousClock.now - started).millis, random: store.options.random())
            // A newly learned address cuts the wait short (at most every `newAddressInterval`).
            let deadline = ContinuousClock.now + .milliseconds(wait)
            while !Task.isCancelled, ContinuousClock.now < deadline,
                  addresses.version(of: device) == seenAddresses || ContinuousClock.now - lastWoken < Self.newAddressInterval {
                try? await Task.sleep(for: min(.milliseconds(250), deadline - ContinuousClock.now))
            }
        }
    }

    /// How often a newly learned address may cut a dialer's wait short.
    static let newAddressInterval: Duration = .seconds(5)
    /// A TLS handshake must finish within this: a peer (or a forged address
    /// pointing at a tarpit) that accepts TCP and stalls is dropped.
    public static let handshakeTimeout: TimeAmount = .seconds(10)

    private func configure(_ channel: Channel, ssl: ChannelHandler, connection: ConnectionContext) throws {
        let config = configBox.config
        channel.eventLoop.scheduleTask(in: Self.handshakeTimeout) {
            if connection.device == nil { channel.close(promise: nil) }
        }
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(ByteCounter(connection))
        try operations.addHandler(ssl)
        try operations.addHandler(IdleStateHandler(readTimeout: .milliseconds(Int64(config.idleTimeoutSeconds * 1_000))))
        try operations.addHandler(IdleTimeoutHandler(seconds: config.idleTimeoutSeconds))
        try operations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameBytes: config.maxFrameBytes,
                                                                        frameDeadline: .milliseconds(Int64(config.frameTimeoutSeconds * 1_000)),
                                                                        probation: { connection.onProbation })))
        try operations.addHandler(MessageToByteHandler(FrameEncoder()))
    }

    private func verifier(_ connection: ConnectionContext, expected: DeviceID?) -> NIOSSLCustomVerificationCallback {
        let configBox = self.configBox
        let logger = self.logger
        let registry = self.registry
        let metrics = self.metrics
        let teamCA = self.teamCA
        let pending = self.pending
        let blocked = self.blocked
        let invitations = self.invitations
        return TLSSetup.verifier(context: connection, admit: { device, leaf in
            if blocked.contains(device) { return .refused("device \(device) is blocked (`syncctl peers unblock` lifts it)") }
            if self.isRevoked(device) {
                return .refused("device \(device) was revoked by the team CA")
            }
            if let expected {
                return device == expected ? .configured : .refused("dialed \(expected.short)… but \(device) answered")
            }
            if configBox.config.peer(device) != nil { return .configured }
            if let ca = teamCA.current(path: configBox.config.teamCA), let der = try? leaf.toDERBytes(), ca.signed(der) { return .teamCA }
            // While invitations are kept, an unknown device may come in to
            // claim one; if its first message is not a claim it is refused
            // (and noted as pending) before anything else is read.
            if invitations.current.admitsUnknownDevices(now: Date()) { return .invitation }
            pending.note(device, leafDER: try? leaf.toDERBytes(), address: connection.remote)
            return .refused("device \(device) is not a configured peer\(configBox.config.teamCA == nil ? "" : " and its certificate is not signed by the team CA")")
        }, onRefuse: { reason in
            logger.warning("refused TLS handshake", metadata: ["remote": "\(connection.remote)", "reason": "\(reason)"])
            metrics.refusedHandshake()
            Task { await registry.countRefusedHandshake() }
        })
    }

    /// The peer a device stands for: its config entry, or for a device the
    /// team CA vouched for, an inbound send-receive peer named by its hello.
    func peerConfig(for device: DeviceID, connection: ConnectionContext, hello: SyncMessage.Hello?) -> PeerConfig? {
        if let peer = configBox.config.peer(device) { return peer }
        guard connection.viaTeamCA else { return nil }
        let name = hello.map { "\($0.deviceName) (\(device.short))" } ?? device.short
        return PeerConfig(deviceID: device, name: name, address: nil, mode: .sendReceive)
    }

    private func hello(for peer: PeerConfig, replica: ReplicaID, origin: JoinOrigin?) -> SyncMessage.Hello {
        var hello = SyncMessage.Hello(protocolMajor: SyncMessage.protocolMajor, protocolMinor: SyncMessage.protocolMinor,
                                      replica: replica, deviceName: configBox.config.deviceName, schemaHash: store.schema.hash,
                                      willSend: peer.mode.sends, willReceive: peer.mode.receives, highestSeq: notifier.highestSeq,
                                      lineage: lineage)
        hello.joinDecisionFollows = offersJoinDecision(to: peer)
        hello.origin = origin
        return hello
    }

    /// Runs one connection: hello exchange, checks, then the session.
    func runConnection(_ channel: NIOAsyncChannel<SyncMessage, SyncMessage>, connection: ConnectionContext, dialedByUs: Bool, expected: DeviceID?) async {
        let sessionID = UUID()
        var registeredDevice: DeviceID?
        var peerName = expected.flatMap { configBox.config.peer($0)?.name } ?? connection.remote
        do {
            try await channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                // Read once: the hello's id and the proof's nonce must match.
                let own = try store.replicaIdentity()
                let origin = try store.joinOrigin()
                var sentHello: SyncMessage.Hello?
                var claimed = false
                if let expected, let peer = configBox.config.peer(expected) {
                    // Protocol 1.3: a joiner proves its invitation before its hello.
                    let claims = joinClaims
                    if let claim = try await Blocking.run({ claims.load().pending(for: expected) }) {
                        try await outbound.write(.invitationClaim(id: claim.id, secret: claim.secret))
                        claimed = true
                    }
                    let ours = hello(for: peer, replica: own.replica, origin: origin)
                    sentHello = ours
                    try await outbound.write(.hello(ours))
                }
                guard var first = try await iterator.next() else { throw SessionError.closedByPeer("connection closed before hello") }
                if !dialedByUs, case .invitationClaim(let id, let secret) = first {
                    // The joiner sends its hello right behind its claim: read
                    // it before judging, so that a device of another dataset
                    // is refused before it uses the invitation up.
                    guard let next = try await iterator.next() else { throw SessionError.closedByPeer("connection closed before hello") }
                    guard case .hello(let joining) = next else {
                        if case .goodbye(let reason) = next { throw SessionError.closedByPeer(SessionError.bounded(reason)) }
                        throw SessionError.protocolViolation("expected hello after the invitation claim, got \(next.kind)")
                    }
                    try await judgeClaim(id: id, secret: secret, lineage: HelloRules.lineage(of: joining), connection: connection, outbound: outbound)
                    first = next
                }
                if claimed, let expected { try await settleClaim(with: expected, answer: first) }
                guard case .hello(let theirs) = first else {
                    if case .goodbye(let reason) = first { throw SessionError.closedByPeer(SessionError.bounded(reason)) }
                    throw SessionError.protocolViolation("expected hello, got \(first.kind)")
                }
                guard let device = connection.device, let peer = peerConfig(for: device, connection: connection, hello: theirs) else {
                    if let device = connection.device, connection.viaInvitation {
                        pending.note(device, leafDER: nil, name: theirs.deviceName, address: connection.remote)
                        throw SessionError.refused("device \(device) is not a configured peer and claimed no invitation")
                    }
                    throw SessionError.refused("peer is no longer configured")
                }
                await registry.admit(peer, viaTeamCA: connection.viaTeamCA)
                peerName = peer.name
                if !dialedByUs {
                    let ours = hello(for: peer, replica: own.replica, origin: origin)
                    sentHello = ours
                    try await outbound.write(.hello(ours))
                }
                // Protocol 1.2: each side proves its replica id (replication-model §3.3).
                var theirNonce: [UInt8]?
                if theirs.protocolMajor == SyncMessage.protocolMajor, HelloRules.expectsProof(from: theirs) {
                    try await outbound.write(.replicaProof(nonce: own.nonce ?? []))
                    guard let next = try await iterator.next() else { throw SessionError.closedByPeer("connection closed before the replica proof") }
                    guard case .replicaProof(let nonce) = next else {
                        if case .goodbye(let reason) = next { throw SessionError.closedByPeer(SessionError.bounded(reason)) }
                        throw SessionError.protocolViolation("expected replica-proof after the hellos, got \(next.kind)")
                    }
                    theirNonce = nonce
                }
                func refuse(_ reason: String, countsAsReplica: Bool) async throws -> Never {
                    if countsAsReplica { await registry.countRefusedReplica() }
                    try? await outbound.write(.goodbye(reason: reason))
                    throw SessionError.refused(reason)
                }
                let proven: Bool
                let admission = HelloRules.admit(theirs, ownReplica: own.replica, proofNonce: theirNonce, device: device, lineage: lineage)
                // Shown with the peer in `syncctl status` until it comes back with this dataset.
                let otherDataset: String? = if case .otherDataset(_, let theirLineage) = admission { theirLineage } else { nil }
                await registry.update(device) { $0.otherDataset = otherDataset }
                switch admission {
                case .refuse(let reason, let countsAsReplica): try await refuse(reason, countsAsReplica: countsAsReplica)
                case .otherDataset(let reason, _): try await refuse(reason, countsAsReplica: false)
                case .bind(let isProven): proven = isProven
                }
                let store = self.store
                let binding = try await Blocking.run { try store.bindPeer(replica: theirs.replica, device: device.description, proven: proven) }
                switch HelloRules.verdict(on: binding, replica: theirs.replica, device: device) {
                case .refuse(let reason): try await refuse(reason, countsAsReplica: true)
                case .accept: break
                case .acceptTakingBack(let previous):
                    await registry.countRefusedReplica()
                    logger.warning("replica id was bound, without proof, to another device; this device proved it, so the binding moves and the other device is refused from now on", metadata: [
                        "replica": "\(theirs.replica)", "device": "\(device)", "previous_device": "\(previous)"])
                    if let previousDevice = DeviceID(previous), let squatter = await registry.session(of: previousDevice) {
                        await closeSession(squatter)
                    }
                }
                if theirs.schemaHash != store.schema.hash {
                    logger.warning("peer runs a different schema: its changes are kept, and those that fail ours are reported",
                                   metadata: ["peer": "\(peer.name)", "theirs": "\(theirs.schemaHash.prefix(12))", "ours": "\(store.schema.hash.prefix(12))"])
                }
                if let duplicate = await registry.register(session: sessionID, device: device, dialedBy: dialedByUs ? identity.deviceID : device) {
                    if duplicate == sessionID {
                        try? await outbound.write(.goodbye(reason: "already connected to this device"))
                        throw SessionError.refused("duplicate connection (keeping the one dialed by the smaller device ID)")
                    }
                    await closeSession(duplicate)
                }
                registeredDevice = device
                await registerCloser(sessionID, channel.channel)
                // A block or revocation made while this connection was past
                // its handshake but not registered closed nothing here: look
                // again now that closing it would reach it.
                if blocked.contains(device) || isRevoked(device) {
                    try await refuse("device \(device) was blocked or revoked while connecting", countsAsReplica: false)
                }
                let now = Date()
                await registry.update(device) { status in
                    status.state = "connected"
                    status.connectedSince = now
                    status.replica = theirs.replica.hex
                    status.remoteDeviceName = theirs.deviceName
                    status.remoteHighestSeq = theirs.highestSeq
                    status.schemaMismatch = theirs.schemaHash != store.schema.hash
                    status.lastError = nil
                }
                metrics.connected(peer: peer.name, true)
                // A peer that joined by snapshot: what we read of its origin we hold (replication-model §4.6).
                if let theirOrigin = theirs.origin {
                    let replica = theirs.replica
                    if let cursor = try await Blocking.run({ try store.startCursor(for: replica, joinedFrom: theirOrigin) }) {
                        logger.info("the peer joined by snapshot: reading it from where its origin's feed was already read", metadata: [
                            "peer": "\(peer.name)", "origin": "\(theirOrigin.replica.short)", "cursor": "\(cursor)"])
                    }
                }
                if let ours = sentHello, try await runJoinPhase(ours: ours, theirs: theirs, peer: peer, device: device, inbound: &iterator, outbound: outbound) {
                    return
                }
                // A join by snapshot on another connection may have given this
                // store a new replica id since our hello: this session would
                // serve the new feed under the old id.
                if try store.replicaIdentity().replica != own.replica {
                    try? await outbound.write(.goodbye(reason: "this daemon's replica id changed (joined by snapshot); reconnecting"))
                    throw SessionError.refused("the replica id changed while connecting")
                }
                let logger = self.logger.with(peer: peer.name)
                let session = PeerSession(node: self, channel: channel.channel, peer: peer, hello: theirs, connection: connection, logger: logger)
                logger.info("peer connected", metadata: ["direction": "\(dialedByUs ? "outbound" : "inbound")", "replica": "\(theirs.replica.short)",
                                                         "sends": "\(session.sendsToPeer)", "receives": "\(session.receivesFromPeer)"])
                try await session.run(inbound: &iterator, outbound: outbound)
            }
            logger.info("peer disconnected", metadata: ["peer": "\(peerName)"])
        } catch {
            let reason = error is CancellationError ? "this daemon is shutting down" : "\(error)"
            if let handshake = TLSSetup.explain(handshakeFailure: error) {
                if !handshake.alreadyReported {
                    logger.warning("refused TLS handshake", metadata: ["remote": "\(connection.remote)", "reason": "\(handshake.reason)"])
                    metrics.refusedHandshake()
                    await registry.countRefusedHandshake()
                }
            } else if let violation = error as? SessionError, violation.isPeerFault {
                await registry.countProtocolViolation()
                logger.warning("closed the connection: the peer broke the protocol", metadata: ["peer": "\(peerName)", "remote": "\(connection.remote)", "reason": "\(reason)"])
            } else if case SessionError.refused = error {
                logger.warning("refused peer", metadata: ["peer": "\(peerName)", "remote": "\(connection.remote)", "reason": "\(reason)"])
            } else {
                logger.info("connection closed", metadata: ["peer": "\(peerName)", "remote": "\(connection.remote)", "reason": "\(reason)"])
            }
            if let device = registeredDevice ?? connection.device {
                await registry.update(device) { $0.lastError = reason }
            }
        }
        await unregisterCloser(sessionID)
        if let device = registeredDevice {
            await registry.unregister(session: sessionID, device: device)
            if await !registry.isConnected(device) {
                await registry.update(device) { $0.state = "disconnected"; $0.caughtUp = false }
                metrics.connected(peer: peerName, false)
            }
        }
    }

    let closers = ClosersBox()
    private func registerCloser(_ id: UUID, _ channel: Channel) async { closers.set(id, channel) }
    private func unregisterCloser(_ id: UUID) async { closers.set(id, nil) }
    private func closeSession(_ id: UUID) async { closers.get(id)?.close(promise: nil) }

    /// Reads the block list again and closes the sessions of blocked devices.
    public func enforceBlockList() async {
        blocked.reload()
        await closeSessions(of: blocked.devices.compactMap { DeviceID($0.deviceID) }, why: "blocked")
    }

    /// Closes the sessions of `devices` at once.
    func closeSessions(of devices: [DeviceID], why: String) async {
        for device in devices {
            guard let session = await registry.session(of: device) else { continue }
            logger.notice("closing the connection of a device that was \(why)", metadata: ["device": "\(device)"])
            await closeSession(session)
        }
    }
}

/// The team CA named in the config, loaded once per path.
final class TeamCACache: Sendable {
    private let state = Mutex<(path: String, ca: TeamCA?)?>(nil)
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func current(path: String?) -> TeamCA? {
        guard let path else { return nil }
        return state.withLock { loaded in
            if let loaded, loaded.path == path { return loaded.ca }
            var ca: TeamCA?
            do { ca = try TeamCA(path: path) } catch { logger.error("team CA not usable; only listed peers are accepted", metadata: ["reason": "\(error)"]) }
            loaded = (path, ca)
            return ca
        }
    }
}

final class ClosersBox: Sendable {
    private let channels = Mutex<[UUID: any Channel]>([:])
    func set(_ id: UUID, _ channel: (any Channel)?) { channels.withLock { $0[id] = channel } }
    func get(_ id: UUID) -> (any Channel)? { channels.withLock { $0[id] } }
    func all() -> [any Channel] { channels.withLock { Array($0.values) } }
}

extension Logger {
    func with(peer: String) -> Logger {
        var copy = self
        copy[metadataKey: "peer"] = "\(peer)"
        return copy
    }
}

/// Open inbound connections, with a ceiling in all and per remote address,
/// so that one host holding sockets in the handshake cannot lock out the
/// rest of the team.
final class InboundCount: Sendable {
    private let state = Mutex<(open: Int, byHost: [String: Int])>((0, [:]))

    /// Counts one more connection from `host` unless a ceiling is reached.
    func enter(host: String, limit: Int, perHost: Int) -> Bool {
        state.withLock { state in
            guard state.open < limit, state.byHost[host, default: 0] < perHost else { return false }
            state.open += 1
            state.byHost[host, default: 0] += 1
            return true
        }
    }

    func leave(host: String) {
        state.withLock { state in
            state.open -= 1
            state.byHost[host, default: 1] -= 1
            if state.byHost[host] == 0 { state.byHost[host] = nil }
        }
    }
}
