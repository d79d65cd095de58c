import ArgumentParser
import Foundation
import SyncCore

struct Peers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, add and remove the peers in the daemon's config (a running daemon picks changes up).",
        discussion: """
            Examples:
              syncctl peers list
              syncctl peers add QX3F-...-7B2A --address 192.0.2.10:22870 --name bob-laptop
              syncctl peers add QX3F-...-7B2A --mode receive-only
              syncctl peers remove bob-laptop
              syncctl peers pending
              syncctl peers accept bob-laptop --mode receive-only
              syncctl peers ignore QX3F-...-7B2A
              syncctl peers block QX3F-...-7B2A --reason "laptop stolen 2026-12-01"
            """,
        subcommands: [ListPeers.self, AddPeer.self, RemovePeer.self, PendingPeers.self, AcceptPeer.self, IgnorePeer.self, BlockPeer.self, UnblockPeer.self],
        defaultSubcommand: ListPeers.self)
}

struct ListPeers: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List configured peers.")

    @OptionGroup var global: GlobalOptions

    func run() throws {
        try reportingErrors {
            let peers = try global.peerEditor().load().peers
            guard !peers.isEmpty else {
                print("no peers configured; add one with `syncctl peers add DEVICE-ID --address HOST:PORT --name NAME`")
                return
            }
            print("\(Display.fit("NAME", 16)) \(Display.fit("DEVICE", 11)) \(Display.fit("ADDRESS", 24)) MODE")
            for peer in peers {
                print("\(Display.fit(peer.name, 16)) \(Display.fit(peer.deviceID.short + "…", 11)) \(Display.fit(peer.address?.description ?? "(dials us)", 24)) \(peer.mode.rawValue)")
            }
        }
    }
}

struct AddPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a peer, or update the one with this device ID.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The peer's device ID, as `syncctl id` prints it on its machine.", valueName: "device-id")) var deviceID: String
    @Option(help: ArgumentHelp("Where to dial it; leave out if it dials us.", valueName: "host:port")) var address: String?
    @Option(help: "A short name for it (default: the start of its device ID).") var name: String?
    @Option(help: "send-receive (default), send-only or receive-only.") var mode: String = PeerMode.sendReceive.rawValue

    func validate() throws {
        guard DeviceID(deviceID) != nil else {
            throw ValidationError("'\(deviceID)' is not a device ID: 52 base32 characters in groups, as `syncctl id` prints it")
        }
        if let address, HostPort(address) == nil { throw ValidationError("--address '\(address)' is not HOST:PORT, for example 127.0.0.1:22870") }
        guard PeerMode(rawValue: mode) != nil else { throw ValidationError("--mode '\(mode)' is not a mode: use send-receive, send-only or receive-only") }
    }

    func run() throws {
        try reportingErrors {
            let editor = try global.peerEditor()
            var peers = try editor.load().peers
            let id = DeviceID(deviceID)!
            if let own = try DeviceIdentity.existingDeviceID(in: global.directory.url), own == id {
                throw CLIError("\(id.short)… is this device's own ID; add the other machine's ID (`syncctl id` there)")
            }
            let peer = PeerConfig(deviceID: id, name: name ?? id.short, address: address.flatMap(HostPort.init), mode: PeerMode(rawValue: mode)!)
            if let clash = peers.first(where: { $0.name == peer.name && $0.deviceID != id }) {
                throw CLIError("the name '\(peer.name)' is taken by device \(clash.deviceID.short)…; choose another with --name")
            }
            let updated = peers.contains { $0.deviceID == id }
            if let index = peers.firstIndex(where: { $0.deviceID == id }) { peers[index] = peer } else { peers.append(peer) }
            try editor.save(peers)
            print("\(updated ? "updated" : "added") peer \(peer.name) (\(peer.mode.rawValue)\(peer.address.map { ", dials \($0)" } ?? ", waits for it to dial"))")
        }
    }
}

struct RemovePeer: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a peer by name or device ID.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The peer's name or device ID.", valueName: "device-id-or-name")) var peer: String

    func run() throws {
        try reportingErrors {
            let editor = try global.peerEditor()
            var peers = try editor.load().peers
            let id = DeviceID(peer)
            guard let index = peers.firstIndex(where: { $0.name == peer || $0.deviceID == id }) else {
                let names = peers.map(\.name).joined(separator: ", ")
                throw CLIError("no peer named '\(peer)'\(names.isEmpty ? "" : " (configured: \(names))")")
            }
            let removed = peers.remove(at: index)
            try editor.save(peers)
            print("removed peer \(removed.name)")
        }
    }
}

/// Devices that dialed without being peers (docs/operations.md "Pending devices").
struct PendingPeers: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pending", abstract: "List devices that asked to connect without being peers; none is accepted on its own.",
        discussion: """
            A device that dials this daemon and is not a configured peer is refused, and
            recorded here with its device ID, the name its owner gave it, where it dialed
            from and when. Accept it with `syncctl peers accept`, or stop listing it with
            `syncctl peers ignore`. Check its device ID with its owner (`syncctl id` there)
            before accepting.

            Examples:
              syncctl peers pending
              syncctl peers pending --all --json
            """)

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Also list ignored devices.") var all = false

    func run() throws {
        try reportingErrors {
            let configured = Swift.Set(((try? global.peerEditor().load().peers) ?? []).map(\.deviceID.description))
            let devices = PendingDeviceFile(directory: global.directory.url).load().devices
                .filter { (all || !$0.ignored) && !configured.contains($0.deviceID) }
            try global.emit(devices) {
                guard !devices.isEmpty else { print("no device is waiting to be accepted"); return }
                print("\(Display.fit("NAME", 16)) \(Display.fit("DEVICE ID", 64)) \(Display.fit("FROM", 22)) LAST SEEN")
                for device in devices {
                    print("\(Display.fit(device.name.isEmpty ? "?" : device.name, 16)) \(Display.fit(device.deviceID, 64)) \(Display.fit(device.address, 22)) \(Display.ago(device.lastSeen))\(device.ignored ? " (ignored)" : "") ×\(device.attempts)")
                }
                print("accept one with `syncctl peers accept NAME-OR-ID [--mode send-receive|send-only|receive-only]`")
            }
        }
    }
}

struct AcceptPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accept", abstract: "Make a pending device a peer (a running daemon picks it up).",
        discussion: """
            Examples:
              syncctl peers accept bob-laptop
              syncctl peers accept QX3F-...-7B2A --mode receive-only --name bob
              syncctl peers accept bob-laptop --address 192.0.2.10:22870   # also dial it
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The pending device's name or device ID (`syncctl peers pending`).", valueName: "device-id-or-name")) var device: String
    @Option(help: "send-receive (default), send-only or receive-only.") var mode: String = PeerMode.sendReceive.rawValue
    @Option(help: "A name for the peer (default: the name it gave).") var name: String?
    @Option(help: ArgumentHelp("Where to dial it (default: it dials us).", valueName: "host:port")) var address: String?

    func validate() throws {
        guard PeerMode(rawValue: mode) != nil else { throw ValidationError("--mode '\(mode)' is not a mode: use send-receive, send-only or receive-only") }
        if let address, HostPort(address) == nil { throw ValidationError("--address '\(address)' is not HOST:PORT, for example 192.0.2.10:22870") }
    }

    func run() throws {
        try reportingErrors {
            let file = PendingDeviceFile(directory: global.directory.url)
            let list = file.load()
            guard let pending = list.find(device), let id = DeviceID(pending.deviceID) else {
                let names = list.devices.map { $0.name.isEmpty ? String($0.deviceID.prefix(9)) : $0.name }.joined(separator: ", ")
                throw CLIError("no pending device '\(device)'\(names.isEmpty ? "" : " (pending: \(names))"); `syncctl peers pending` lists them")
            }
            let editor = try global.peerEditor()
            var peers = try editor.load().peers
            if let name, peers.contains(where: { $0.name == name && $0.deviceID != id }) {
                throw CLIError("the name '\(name)' is taken by another peer; choose another with --name")
            }
            let peerName = name ?? PeerConfig.uniqueName(pending.name, for: id, among: peers)
            let peer = PeerConfig(deviceID: id, name: peerName, address: address.flatMap(HostPort.init), mode: PeerMode(rawValue: mode)!)
            if let index = peers.firstIndex(where: { $0.deviceID == id }) { peers[index] = peer } else { peers.append(peer) }
            try editor.save(peers)
            try file.update { $0.remove(id.description) }
            print("accepted \(peer.name) (\(id.short)…) as a \(peer.mode.rawValue) peer\(peer.address.map { ", dialed at \($0)" } ?? "; it connects at its next attempt")")
        }
    }
}

struct IgnorePeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ignore", abstract: "Stop listing a pending device (it stays refused).",
        discussion: """
            Examples:
              syncctl peers ignore QX3F-...-7B2A
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The pending device's name or device ID.", valueName: "device-id-or-name")) var device: String

    func run() throws {
        try reportingErrors {
            let file = PendingDeviceFile(directory: global.directory.url)
            guard let pending = file.load().find(device) else {
                throw CLIError("no pending device '\(device)'; `syncctl peers pending` lists them")
            }
            try file.update { $0.ignore(pending.deviceID) }
            print("ignoring \(pending.name.isEmpty ? pending.deviceID : pending.name); it stays refused (`syncctl peers pending --all` still shows it)")
        }
    }
}

/// Shuts a device out: refused even when the team CA signed it, disconnected now.
struct BlockPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block", abstract: "Shut a device out: disconnected at once and refused from then on, even when the team CA signed it.",
        discussion: """
            The device is removed from the peers and from the pending list, added to
            blocked-devices.json in the data directory, and a running daemon closes its
            connection now. What it wrote before stays (it is part of the dataset).

            Examples:
              syncctl peers block bo-laptop --reason "stolen on 2026-12-01"
              syncctl peers block QX3F-...-7B2A
              syncctl peers unblock QX3F-...-7B2A
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The device ID, or the name of a peer or pending device.", valueName: "device-id-or-name")) var device: String
    @Option(help: "Why, kept with the block.") var reason = ""

    func run() throws {
        try reportingErrors {
            let editor = try global.peerEditor()
            var peers = try editor.load().peers
            let pendingFile = PendingDeviceFile(directory: global.directory.url)
            let id: DeviceID
            var name = ""
            if let parsed = DeviceID(device) {
                id = parsed
                name = peers.first { $0.deviceID == parsed }?.name ?? ""
            } else if let peer = peers.first(where: { $0.name == device }) {
                id = peer.deviceID
                name = peer.name
            } else if let pending = pendingFile.load().find(device), let parsed = DeviceID(pending.deviceID) {
                id = parsed
                name = pending.name
            } else {
                throw CLIError("no peer or pending device named '\(device)'; give its device ID")
            }
            if let own = try DeviceIdentity.existingDeviceID(in: global.directory.url), own == id {
                throw CLIError("\(id.short)… is this device's own ID")
            }
            let added = try BlockListFile(directory: global.directory.url).update { $0.block(id, name: name, reason: reason, at: Date()) }
            guard added else { throw CLIError("the block list is full (\(BlockList.maxEntries) devices)") }
            if peers.contains(where: { $0.deviceID == id }) {
                peers.removeAll { $0.deviceID == id }
                try editor.save(peers)
            }
            try pendingFile.update { $0.remove(id.description) }
            let running = (try? ControlClient(path: global.directory.controlSocketPath).send(ControlRequest(command: "blocked"), timeout: 5))?.ok == true
            print("blocked \(name.isEmpty ? id.short + "…" : name) (\(id)); \(running ? "the daemon closed its connection" : "no daemon running: refused from its next start")")
        }
    }
}

struct UnblockPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unblock", abstract: "Lift a block (the device is not made a peer again: `syncctl peers add` or `accept`).",
        discussion: """
            Examples:
              syncctl peers unblock QX3F-...-7B2A
            """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The blocked device's ID.", valueName: "device-id")) var device: String

    func run() throws {
        try reportingErrors {
            // By name through the checked read: a list refused as damaged says why, not "no such name".
            guard let id = try DeviceID(device) ?? BlockListFile(directory: global.directory.url).loadChecked().devices.first(where: { $0.name == device }).flatMap({ DeviceID($0.deviceID) }) else {
                throw CLIError("'\(device)' is neither a device ID nor the name of a blocked device")
            }
            let removed = try BlockListFile(directory: global.directory.url).update { $0.unblock(id) }
            guard removed else { throw CLIError("\(id.short)… is not blocked") }
            _ = try? ControlClient(path: global.directory.controlSocketPath).send(ControlRequest(command: "blocked"), timeout: 5)
            print("unblocked \(id.short)…")
        }
    }
}
