import Foundation

/// Named points where a test can make this process die as by `kill -9`
/// (`SYNCD_TEST_CRASH_AT=restore.linked`), to prove that every step of a
/// multi-file operation leaves a state that opens safely. Unset, it costs a
/// string comparison.
enum CrashPoint {
    static let armed = ProcessInfo.processInfo.environment["SYNCD_TEST_CRASH_AT"]

    static func hit(_ name: String) {
        guard armed == name else { return }
        kill(getpid(), SIGKILL)
    }
}
