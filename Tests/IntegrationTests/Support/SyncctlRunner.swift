import Foundation
import SyncCore
import TestSupport

/// Runs the built `syncctl` as a process and captures what it printed.
struct SyncctlRun: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String
    var description: String { "exit \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }

    /// The stdout parsed as JSON.
    func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(stdout.utf8)) }
}

/// A data directory for `syncctl`, created with `syncctl init`.
struct Syncctl {
    let directory: URL

    init(in root: TemporaryDirectory, name: String = "cli") throws {
        directory = root.url.appendingPathComponent(name)
        let result = try run(["init", "--name", name, "--author", name])
        guard result.status == 0 else { throw HarnessError("init failed: \(result)") }
    }

    init(existing directory: URL) { self.directory = directory }

    /// `syncctl ARGS --data-dir DIR`, with optional standard input.
    @discardableResult
    func run(_ arguments: [String], input: String? = nil, environment: [String: String] = [:]) throws -> SyncctlRun {
        try Self.run(arguments + ["--data-dir", directory.path], input: input, environment: environment)
    }

    static func run(_ arguments: [String], input: String? = nil, environment: [String: String] = [:]) throws -> SyncctlRun {
        let process = Process()
        process.executableURL = BuiltProducts.executable("syncctl")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in ["SYNCD_DATA_DIR", "SYNCD_CONFIG", "SYNCD_AUTHOR", "XDG_DATA_HOME"] { env[key] = nil }
        env.merge(environment) { $1 }
        process.environment = env
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("syncctl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out"), err = scratch.appendingPathComponent("err"), inp = scratch.appendingPathComponent("in")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        _ = FileManager.default.createFile(atPath: inp.path, contents: Data((input ?? "").utf8))
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = try FileHandle(forReadingFrom: inp)
        try process.run()
        process.waitUntilExit()
        return SyncctlRun(status: process.terminationStatus,
                          stdout: try String(contentsOf: out, encoding: .utf8), stderr: try String(contentsOf: err, encoding: .utf8))
    }

    func store() throws -> Store { try Store(path: directory.appendingPathComponent("data.db").path) }
    func digest() throws -> String { try store().digest().hex }
}

/// Makes `a` and `b` hold the same concurrent conflict on `field` of `ref`:
/// each writes its own value, then each merges the other's slot states.
func makeConflict(_ a: Store, _ b: Store, _ ref: RecordRef, field: String, values: (String, String)) throws {
    try a.update(ref, [.set(field, .text(values.0))], author: "a")
    try b.update(ref, [.set(field, .text(values.1))], author: "b")
    try exchange(a, b)
}

/// Pulls each store's whole feed into the other (as the daemons would).
func exchange(_ a: Store, _ b: Store) throws {
    try pull(into: a, from: b, batchSize: 5_000, maxBytes: 8 << 20)
    try pull(into: b, from: a, batchSize: 5_000, maxBytes: 8 << 20)
}
