import Foundation

/// A process whose standard output is read as it is written (`syncctl
/// watch`, `curl -N` on an event stream), so a test can wait for a line.
public final class StreamingProcess: @unchecked Sendable {
    private let process = Process()
    private let pipes = (output: Pipe(), errors: Pipe(), input: Pipe())
    private let lock = NSLock()
    private var buffer = Data()
    private var errors = Data()

    public init(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = pipes.output, errorPipe = pipes.errors
        process.standardOutput = output
        process.standardError = errorPipe
        process.standardInput = pipes.input
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.buffer.append(data) }
        }
        errorPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.errors.append(data) }
        }
        try process.run()
    }

    deinit { stop() }

    /// Everything printed on standard output so far.
    public var output: String { lock.withLock { String(decoding: buffer, as: UTF8.self) } }
    public var errorOutput: String { lock.withLock { String(decoding: errors, as: UTF8.self) } }
    /// Complete lines printed so far.
    public var lines: [String] { output.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }
    /// Writes `text` to the process's standard input.
    public func send(_ text: String) { pipes.input.fileHandleForWriting.write(Data(text.utf8)) }
    /// Closes its standard input (end of file).
    public func closeInput() { try? pipes.input.fileHandleForWriting.close() }

    /// The exit status once the process has ended (nil while it runs).
    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// Waits until `condition` holds for the lines printed; false on timeout.
    public func waitFor(timeout: Duration = .seconds(10), _ condition: ([String]) -> Bool) async throws -> Bool {
        try await eventually(timeout: timeout, every: .milliseconds(5)) { condition(lines) }
    }

    /// SIGTERM, then SIGKILL after 5 s. Polls instead of `waitUntilExit`,
    /// which can hang on Linux while readability handlers are installed.
    public func stop() {
        pipes.output.fileHandleForReading.readabilityHandler = nil
        pipes.errors.fileHandleForReading.readabilityHandler = nil
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
