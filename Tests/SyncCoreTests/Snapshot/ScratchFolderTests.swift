import Foundation
import Testing
@testable import SyncCore
import TestSupport

/// A scratch folder a killed process left (a copy as large as a snapshot)
/// is swept by the next one of its label; one a live process holds, or
/// one just made, is never touched.
@Suite("Scratch folders left by killed processes")
struct ScratchFolderTests {
    func folder(_ parent: URL, _ name: String, lockFile: Bool, age: TimeInterval) throws -> URL {
        let folder = parent.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(repeating: 7, count: 4096).write(to: folder.appendingPathComponent("snapshot.db"))
        if lockFile { try Data().write(to: folder.appendingPathComponent("in-use.lock")) }
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-age)], ofItemAtPath: folder.path)
        return folder
    }

    func names(_ parent: URL) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: parent.path).sorted() }

    @Test func foldersNobodyHoldsAreSweptTheRestKept() throws {
        let dir = TemporaryDirectory()
        let parent = dir.url.appendingPathComponent("scratch")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        _ = try folder(parent, "syncd-verify-dead", lockFile: true, age: 120)
        _ = try folder(parent, "syncd-verify-just-made", lockFile: true, age: 0)
        _ = try folder(parent, "syncd-verify-old-build", lockFile: false, age: 2 * 24 * 3600)
        _ = try folder(parent, "syncd-verify-old-build-recent", lockFile: false, age: 3600)
        _ = try folder(parent, "syncd-merge-dead", lockFile: true, age: 120)
        _ = try folder(parent, "mine", lockFile: true, age: 120)
        // A link by a sweepable name (another user's trap, say) is not
        // followed: the folder it points to, and the link, stay.
        let target = try folder(dir.url, "elsewhere", lockFile: true, age: 120)
        try FileManager.default.createSymbolicLink(at: parent.appendingPathComponent("syncd-verify-link"), withDestinationURL: target)
        // A folder holding a folder is not one of ours.
        let nested = try folder(parent, "syncd-verify-nested", lockFile: true, age: 120)
        try FileManager.default.createDirectory(at: nested.appendingPathComponent("inner"), withIntermediateDirectories: false)
        _ = try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-120)], ofItemAtPath: nested.path)
        // Held by another live process, as a verifying syncctl holds it: a
        // shell opens the lock file, locks it (flock(1) on the descriptor)
        // and becomes `sleep` with the descriptor open. Killed, its lock goes.
        let held = try folder(parent, "syncd-verify-live", lockFile: true, age: 120)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "exec 9<>\"$1\" && flock 9 && exec sleep 60", "sh", held.appendingPathComponent("in-use.lock").path]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        // Until flock(1) holds the lock.
        var waited = 0
        while waited < 100, flockIsFree(held.appendingPathComponent("in-use.lock")) { usleep(50_000); waited += 1 }
        #expect(waited < 100, "flock(1) did not take the lock")
        _ = try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-120)], ofItemAtPath: held.path)

        var seen: [String] = []
        try ScratchFolder.with(in: parent, label: "syncd-verify") { url in
            seen = try names(parent)
            #expect(FileManager.default.fileExists(atPath: url.appendingPathComponent("in-use.lock").path))
            let mode = try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int
            #expect(mode == 0o700, "the copy holds the dataset: the folder is its owner's only")
        }
        #expect(seen.count == 8 && !seen.contains("syncd-verify-dead") && !seen.contains("syncd-verify-old-build"), "\(seen)")
        let kept = ["mine", "syncd-merge-dead", "syncd-verify-just-made", "syncd-verify-link", "syncd-verify-nested", "syncd-verify-old-build-recent"]
        #expect(try names(parent) == (kept + ["syncd-verify-live"]).sorted())
        #expect(try names(target) == ["in-use.lock", "snapshot.db"] && names(nested) == ["in-use.lock", "inner", "snapshot.db"])

        // The holder killed (its lock goes with it): the next one sweeps it.
        holder.terminate()
        holder.waitUntilExit()
        try ScratchFolder.with(in: parent, label: "syncd-verify") { _ in }
        #expect(try names(parent) == kept)
    }

    /// A process killed in the middle of a merge of a real snapshot leaves
    /// its scratch copy; the next merge sweeps it.
    @Test func aMergeKilledMidwayLeavesNothingPastTheNext() throws {
        let dir = TemporaryDirectory()
        let a = try dir.store("a.db")
        try a.seed(SeedData.criticalMinerals())
        let snapshot = dir.url.appendingPathComponent("a.syncsnap")
        _ = try Snapshots.create(from: a, to: snapshot)
        let scratch = dir.url.appendingPathComponent("scratch")
        // What a killed merge leaves: its folder, its copy, its unlocked lock file.
        let left = try folder(scratch, "syncd-merge-\(UUID().uuidString)", lockFile: true, age: 300)
        try FileManager.default.removeItem(at: left.appendingPathComponent("snapshot.db"))
        try FileManager.default.copyItem(at: snapshot, to: left.appendingPathComponent("snapshot.db"))
        _ = try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-300)], ofItemAtPath: left.path)
        let b = try dir.store("b.db")
        #expect(try Snapshots.merge(snapshot, into: b, scratchParent: scratch).changed > 0)
        #expect(try names(scratch) == [])
        #expect(try b.digest() == a.digest())
    }

    private func flockIsFree(_ file: URL) -> Bool {
        let fd = open(file.path, O_RDWR)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        flock(fd, LOCK_UN)
        return true
    }
}
