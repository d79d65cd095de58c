import Foundation

/// The real `sqlite3` shell (Debian's `sqlite3` package), as an analyst runs it.
public enum SQLiteShell {
    public struct Result: CustomStringConvertible, Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
    }

    /// Runs `sql` on `database`. `triggersOff` runs it the way a client that
    /// bypasses syncd's triggers would (`.dbconfig enable_trigger off`).
    @discardableResult
    public static func run(_ database: String, _ sql: String, triggersOff: Bool = false) throws -> Result {
        var arguments = ["sqlite3", "-bail"]
        if triggersOff { arguments += ["-cmd", ".output /dev/null", "-cmd", ".dbconfig enable_trigger off", "-cmd", ".output stdout"] }
        return try command(arguments + [database, sql])
    }

    /// Runs a command found on PATH (`sqlite3`, `python3`), capturing its output.
    public static func command(_ arguments: [String]) throws -> Result {
        let run = try CapturedProcess.run("/usr/bin/env", arguments)
        return Result(status: run.status, stdout: run.stdout.trimmingCharacters(in: .whitespacesAndNewlines), stderr: run.stderr)
    }

    /// Whether the shell is installed.
    public static var isAvailable: Bool {
        (try? run(":memory:", "select 1").stdout) == "1"
    }
}
