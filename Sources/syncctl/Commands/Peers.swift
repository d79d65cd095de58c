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
            """,
        subcommands: [ListPeers.self, AddPeer.self, RemovePeer.self],
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
