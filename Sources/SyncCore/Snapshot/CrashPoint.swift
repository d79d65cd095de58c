import Foundation

/// Named points where a test can make this process die as by `kill -9`
/// (`SYNCD_TEST_CRASH_AT=restore.keptAside`), to prove that every step of a
/// multi-file operation leaves a state that opens safely, or stop there
/// while another process acts (`SYNCD_TEST_PAUSE_AT=restore.keptAside` with
/// `SYNCD_TEST_PAUSE_FILE=PATH`: the file is created on arrival and the
/// process goes on once it is removed, or after 300 s). Unset, it costs a
/// string comparison.
enum CrashPoint {
    static let armed = ProcessInfo.processInfo.environment["SYNCD_TEST_CRASH_AT"]
    static let pause = ProcessInfo.processInfo.environment["SYNCD_TEST_PAUSE_AT"]

    static func hit(_ name: String) {
        if pause == name, let file = ProcessInfo.processInfo.environment["SYNCD_TEST_PAUSE_FILE"] {
            _ = FileManager.default.createFile(atPath: file, contents: nil)
            for _ in 0..<3_000 where FileManager.default.fileExists(atPath: file) { usleep(100_000) }
        }
        guard armed == name else { return }
        kill(getpid(), SIGKILL)
    }
}
