import Foundation
import Synchronization
import Testing
@testable import SyncCore

/// The pending-device list a stranger fills: bounded, cleaned, never accepting.
@Suite("Pending devices")
struct PendingDeviceListTests {
    static func device(_ index: Int) -> DeviceID { DeviceID(spki: Array("device \(index)".utf8)) }

    @Test func attemptsAreCountedAndTheListIsBounded() {
        var list = PendingDeviceList()
        let start = Date(timeIntervalSince1970: 1_000_000)
        list.record(Self.device(0), name: "bo\u{7}\n-laptop", address: "192.0.2.1:5000", at: start)
        list.record(Self.device(0), name: "bo-laptop", address: "192.0.2.1:5001", at: start.addingTimeInterval(5))
        #expect(list.devices.count == 1 && list.devices[0].attempts == 2 && list.devices[0].name == "bo-laptop")
        list.ignore(Self.device(0).description)
        for index in 1...150 { list.record(Self.device(index), name: String(repeating: "x", count: 500), address: "a", at: start.addingTimeInterval(Double(index))) }
        #expect(list.devices.count == PendingDeviceList.maxEntries)
        #expect(list.devices.allSatisfy { $0.name.count <= PendingDeviceList.maxNameCharacters })
        // One character with thousands of combining marks is still bounded in bytes.
        list.record(Self.device(500), name: "a" + String(repeating: "\u{0301}", count: 10_000), address: "a", at: start.addingTimeInterval(500))
        #expect(list.devices.allSatisfy { $0.name.utf8.count <= 4 * PendingDeviceList.maxNameCharacters })
        // The ignored one outlives the oldest not ignored; those go first.
        #expect(list.devices.contains { $0.deviceID == Self.device(0).description })
        #expect(!list.devices.contains { $0.deviceID == Self.device(1).description })
        #expect(list.devices.contains { $0.deviceID == Self.device(150).description })
    }

    @Test func foundByIDOrByAUniqueName() {
        var list = PendingDeviceList()
        list.record(Self.device(1), name: "ana", address: "a", at: Date())
        list.record(Self.device(2), name: "twin", address: "a", at: Date())
        list.record(Self.device(3), name: "twin", address: "a", at: Date())
        #expect(list.find("ana")?.deviceID == Self.device(1).description)
        #expect(list.find(Self.device(3).description)?.deviceID == Self.device(3).description)
        #expect(list.find("twin") == nil)
        list.remove(Self.device(1).description)
        #expect(list.find("ana") == nil)
    }

    @Test func theFileSurvivesGarbage() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pending-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = PendingDeviceFile(directory: directory)
        try Data("not json".utf8).write(to: URL(fileURLWithPath: file.path))
        #expect(file.load().devices.isEmpty)
        // A damaged file is never written over: it may be a block list.
        #expect(throws: LockedJSONFileError.self) { try file.update { $0.record(Self.device(7), name: "cy", address: "b", at: Date()) } }
        #expect(try String(contentsOfFile: file.path, encoding: .utf8) == "not json")
        try FileManager.default.removeItem(atPath: file.path)
        try file.update { $0.record(Self.device(7), name: "cy", address: "b", at: Date()) }
        #expect(file.load().find("cy") != nil)
    }

    /// A block written into the file by hand, the id in lower case and
    /// without dashes (as `syncctl` and the config read it), blocks the
    /// device: matched by the id's bytes, not its text. Blocking or
    /// unblocking it with `syncctl` then finds that entry.
    @Test func aBlockWrittenInAnotherFormOfTheIDBlocks() throws {
        let device = Self.device(3)
        let written = device.description.lowercased().replacingOccurrences(of: "-", with: "")
        #expect(written != device.description && DeviceID(written) == device)
        var list = BlockList(devices: [BlockedDevice(deviceID: written, name: "lost", reason: "by hand", blockedAt: Date())])
        #expect(list.contains(device))
        #expect(!list.contains(Self.device(4)))
        let blocked = list.block(device, name: "lost", reason: "again", at: Date())
        #expect(blocked && list.devices.count == 1 && list.devices[0].reason == "again")
        let unblocked = list.unblock(device)
        #expect(unblocked && list.devices.isEmpty)
        // An id that does not read as one names no device.
        #expect(!BlockList(devices: [BlockedDevice(deviceID: "not-an-id", name: "", reason: "", blockedAt: Date())]).contains(device))
    }

    /// A block list in a directory of its own blocking device 1, watched as
    /// the daemon watches it, with the problems it reports.
    func withWatchedBlockList(_ body: (BlockListFile, BlockedDevices, borrowing Mutex<[String]>) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("blocks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = BlockListFile(directory: directory)
        try file.update { _ = $0.block(Self.device(1), name: "bo", reason: "stolen", at: Date()) }
        let problems = Mutex<[String]>([])
        let watched = BlockedDevices(file: file, onProblem: { problem in problems.withLock { $0.append(problem.description) } })
        #expect(watched.contains(Self.device(1)))
        try body(file, watched, problems)
    }

    /// The daemon's cached view keeps what it read when the file is damaged later.
    @Test func aDamagedBlockListKeepsTheBlocksReadBefore() throws {
        try withWatchedBlockList { file, watched, problems in
            try Data("{ truncated".utf8).write(to: URL(fileURLWithPath: file.path))
            watched.reload()
            #expect(watched.contains(Self.device(1)))
            #expect(problems.withLock { $0.count } == 1 && problems.withLock { $0[0] }.contains("blocked-devices.json"))
        }
    }

    /// A hand-typed entry whose id names no device (an en dash between
    /// groups, `0` for `O`) is not taken as blocking nothing: the file is
    /// refused, saying which entry and what a device id is. The daemon does
    /// not start on it (`loadChecked`), and a running one keeps the blocks
    /// it read before, with the reason logged.
    @Test(arguments: ["en dash", "zero for O"])
    func aBlockEntryThatNamesNoDeviceRefusesTheList(_ typo: String) throws {
        try withWatchedBlockList { file, watched, problems in
            // The second device's id as an operator might type it.
            let good = Self.device(2).description
            let typed = typo == "en dash" ? good.replacingOccurrences(of: "-", with: "\u{2013}") : String(good.map { $0 == "O" ? "0" : $0 })
            #expect(DeviceID(typed) == nil, "\(typed) must not read as an id for this test to mean anything")
            var text = try String(contentsOfFile: file.path, encoding: .utf8)
            let entry = #"{ "deviceID": "\#(typed)", "name": "lost laptop", "reason": "by hand", "blockedAt": "2026-12-01T00:00:00Z" }"#
            text = text.replacingOccurrences(of: #""devices" : ["#, with: #""devices" : [ "# + entry + ",")
            try Data(text.utf8).write(to: URL(fileURLWithPath: file.path))
            #expect(throws: LockedJSONFileError.self) { try file.loadChecked() }
            do { _ = try file.loadChecked() } catch {
                #expect("\(error)".contains("number 1, \"lost laptop\"") && "\(error)".contains("is not a device id"), "\(error)")
                #expect("\(error)".contains("do not move the file aside") && !"\(error)".contains("start it empty"), "\(error)")
            }
            watched.reload()
            #expect(watched.contains(Self.device(1)), "the blocks read before still hold")
            #expect(problems.withLock { $0.count } == 1 && problems.withLock { $0[0] }.contains("would block nothing"))
            // Nothing written over it: a block by `syncctl` is refused until the entry is corrected.
            #expect(throws: LockedJSONFileError.self) { try file.update { _ = $0.block(Self.device(3), name: "x", reason: "y", at: Date()) } }
            #expect(try String(contentsOfFile: file.path, encoding: .utf8) == text)
        }
    }
}
