import Foundation
import Logging
import NIOCore
import NIOPosix

/// The daemon's local control socket (`control.sock` in the data directory,
/// mode 0600): `syncctl` asks it for live state and to sync now.
public struct ControlServer: Sendable {
    let node: SyncNode
    let path: String
    let dataDirectory: String
    let startedAt: Date
    let logger: Logger
    /// Commands served by other parts of the daemon (the web app's `ui-login`).
    private(set) var extraCommands: [String: @Sendable (ControlRequest) async throws -> ControlResponse] = [:]

    public init(node: SyncNode, path: String, dataDirectory: String, logger: Logger) {
        self.node = node
        self.path = path
        self.dataDirectory = dataDirectory
        startedAt = Date()
        self.logger = logger
    }

    /// This server with one more command.
    public func adding(_ command: String, _ body: @escaping @Sendable (ControlRequest) async throws -> ControlResponse) -> ControlServer {
        var copy = self
        copy.extraCommands[command] = body
        return copy
    }

    /// Binds the socket and serves it until cancelled.
    public func run() async throws {
        try await serve(try await bind())
    }

    /// Binds `control.sock` (mode 0600) and returns it unserved: the daemon
    /// binds it before it says `listening:`, so a script that runs
    /// `syncctl status` on that line finds the socket there.
    public func bind() async throws -> BoundControlSocket {
        // Bound inside a fresh folder only this user can enter (mkdtemp:
        // 0700), made 0600 there, then renamed into place: bound at `path`
        // itself (or beside it) it would take connections with the umask's
        // mode until the chmod, and one made then outlives the chmod.
        let directory = (path as NSString).deletingLastPathComponent
        Self.removeStaleBindingFolders(in: directory)
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFSOCK {
            throw ControlSocketError(path: path, reason: "a file that is not a socket stands there; move it away and start again")
        }
        var template = Array((directory + "/" + Self.bindingFolderPrefix + "XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw ControlSocketError(path: path, reason: String(cString: strerror(errno)))
        }
        let folder = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { rmdir(folder) }
        // Held by a descriptor, checked as this user's own 0700 folder, and
        // worked in through it: whoever may rename entries of the data
        // directory (its owner, when root runs the daemon) cannot swap in
        // a folder or a link of theirs.
        let folderFD = open(folder, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard folderFD >= 0 else { throw ControlSocketError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(folderFD) }
        var folderInfo = stat()
        guard fstat(folderFD, &folderInfo) == 0, folderInfo.st_uid == geteuid(), folderInfo.st_mode & 0o7777 == 0o700 else {
            throw ControlSocketError(path: path, reason: "the folder \(folder) made to bind it in was replaced by another user")
        }
        let proc = "/proc/self/fd/\(folderFD)"
        let binding = (FileManager.default.fileExists(atPath: proc) ? proc : folder) + "/s"
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(unixDomainSocketPath: binding, cleanupExistingSocketFile: true) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder()))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ControlSocketError(path: path, reason: "\(error)")
        }
        guard fchmodat(folderFD, "s", 0o600, 0) == 0, renameat(folderFD, "s", AT_FDCWD, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlinkat(folderFD, "s", 0)
            try? await server.channel.close()
            throw ControlSocketError(path: path, reason: reason)
        }
        rmdir(folder)
        logger.info("control socket ready", metadata: ["path": "\(path)"])
        return BoundControlSocket(server: server, path: path)
    }

    /// Serves a socket `bind` made until cancelled, then removes its file.
    public func serve(_ bound: BoundControlSocket) async throws {
        defer { unlink(bound.path) }
        try await withThrowingDiscardingTaskGroup { group in
            try await bound.server.executeThenClose { inbound in
                for try await client in inbound {
                    group.addTask { await self.serve(client) }
                }
            }
        }
    }

    /// A control socket bound at its path and not served yet.
    public struct BoundControlSocket: Sendable {
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        let path: String
    }

    /// The folders a socket is bound in before it is renamed into place
    /// (`.c` and six characters, short: a socket's path has at most 103 bytes).
    static let bindingFolderPrefix = ".c"

    /// Binding folders a killed daemon left (one daemon per data directory
    /// holds `syncd.lock`, so none is in use).
    static func removeStaleBindingFolders(in directory: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix(bindingFolderPrefix) && name.utf8.count == bindingFolderPrefix.utf8.count + 6 {
            let folder = directory + "/" + name
            var info = stat()
            guard lstat(folder, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid() else { continue }
            // Only a socket goes, and the folder only when that leaves it empty.
            var inside = stat()
            if lstat(folder + "/s", &inside) == 0, inside.st_mode & S_IFMT == S_IFSOCK { unlink(folder + "/s") }
            rmdir(folder)
        }
    }

    private func serve(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await client.executeThenClose { inbound, outbound in
            for try await line in inbound {
                let response: ControlResponse
                do {
                    let request = try JSONDecoder().decode(ControlRequest.self, from: Data(line.readableBytesView))
                    response = try await handle(request)
                } catch {
                    response = ControlResponse(ok: false, error: "\(error)")
                }
                let encoder = JSONEncoder()
                encoder.dateEncodingStrategy = .iso8601
                var data = (try? encoder.encode(response)) ?? Data(#"{"ok":false}"#.utf8)
                data.append(UInt8(ascii: "\n"))
                try await outbound.write(ByteBuffer(bytes: data))
            }
        }
    }

    func handle(_ request: ControlRequest) async throws -> ControlResponse {
        switch request.command {
        case "status":
            return ControlResponse(ok: true, status: try await status())
        case "sync":
            await node.registry.requestSync()
            let deadline = ContinuousClock.now + .milliseconds(Int((request.timeout ?? 30) * 1_000))
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                let peers = await node.registry.status().filter { request.peer == nil || $0.name == request.peer || $0.deviceID == request.peer }
                if request.peer != nil && peers.isEmpty { return ControlResponse(ok: false, error: "no configured peer named '\(request.peer!)'") }
                let receiving = peers.filter { $0.mode != PeerMode.sendOnly.rawValue }
                if !receiving.isEmpty && receiving.allSatisfy({ $0.state == "connected" && $0.caughtUp && $0.lag == 0 }) {
                    return ControlResponse(ok: true, status: try await status(), caughtUp: true)
                }
            }
            return ControlResponse(ok: true, status: try await status(), caughtUp: false)
        case "changed":
            try await node.notifier.checkForeignWrites()
            return ControlResponse(ok: true)
        case "blocked":
            // `syncctl peers block`: the list is read again and sessions of
            // blocked devices close now, not at their next handshake.
            await node.enforceBlockList()
            return ControlResponse(ok: true)
        case "revoked":
            // `syncctl ca revoke` wrote a revocation here: obeyed and passed on now.
            await node.enforceRevocations()
            return ControlResponse(ok: true)
        default:
            if let command = extraCommands[request.command] { return try await command(request) }
            let known = (["status", "sync", "changed", "blocked", "revoked"] + extraCommands.keys.sorted()).joined(separator: ", ")
            return ControlResponse(ok: false, error: "unknown command '\(request.command)' (known: \(known))")
        }
    }

    public func status() async throws -> DaemonStatus {
        let store = node.store
        let (replica, conflicts, problems, clocks, collisions, sqlEdits) = try await Blocking.run {
            (try store.replicaID, try store.conflictCount(), try store.schemaProblems().count, try store.clockReports(), try store.dotCollisions().count,
             try store.sqlEditCounts())
        }
        let peers = await node.registry.status()
        let config = node.configBox.config
        let skews = clocks.map { report in
            DaemonStatus.ClockSkew(replica: report.peer.hex, peer: peers.first { $0.replica == report.peer.hex }?.name,
                                   versions: report.count, maxAheadSeconds: Double(report.maxAheadMillis) / 1_000)
        }
        node.metrics.conflictsOpen(conflicts)
        var status = DaemonStatus(deviceID: node.identity.deviceID.description, deviceName: config.deviceName, replica: replica.hex,
                            listen: node.listenAddress.description, dataDirectory: dataDirectory, startedAt: startedAt,
                            highestSeq: node.notifier.highestSeq, conflicts: conflicts,
                            refusedHandshakes: await node.registry.refusedHandshakes, refusedReplicas: await node.registry.refusedReplicas,
                            refusedBatches: await node.registry.refusedBatches, protocolViolations: await node.registry.protocolViolations,
                            schemaProblems: problems, dotCollisions: collisions, sqlEdits: sqlEdits,
                            pendingDevices: PendingDeviceFile(directory: URL(fileURLWithPath: dataDirectory)).load().devices.filter { !$0.ignored }.count,
                            revocations: DaemonStatus.RevocationCounts(held: node.teamRevocations.count, refused: node.refusedRevocations),
                            invitations: DaemonStatus.InvitationCounts(node.invitations.fresh, refused: node.refusedClaims, now: Date()),
                            clockSkewedPeers: skews, peers: peers)
        status.dataset = node.lineage
        if config.discovery == .lan {
            let book = node.addresses.book
            let learned = config.peers.flatMap { peer in
                (book.learned[peer.deviceID] ?? []).map {
                    DaemonStatus.LearnedAddress(peer: peer.name, deviceID: peer.deviceID.description, address: $0.address.description, lastSeen: $0.lastSeen)
                }
            }
            status.discovery = DaemonStatus.DiscoveryStatus(port: config.discoveryPort, learned: learned)
        }
        return status
    }
}

/// Splits input into newline-terminated lines (without the newline); refuses lines over 1 MiB.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 1 << 20 { throw FrameError.tooLarge(length: buffer.readableBytes, limit: 1 << 20) }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        let line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}

/// The control socket could not be made private and put in place.
public struct ControlSocketError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String {
        "could not set up the control socket \(path) (\(reason)); check that the data directory is writable by this user and its path short enough for a socket (at most about 90 bytes)"
    }
}
