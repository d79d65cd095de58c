import Testing
@testable import SyncCore

/// A store refuses to open on a SQLite older than 3.33 (its restore's SQL
/// would fail midway), saying what to install; this machine's library is
/// new enough.
@Suite("The SQLite library's version")
struct SQLiteVersionTests {
    @Test func olderThan333IsRefusedWithWhatToInstall() throws {
        let message = try #require(SQLiteVersion.problem(number: 3_032_003, text: "3.32.3"))
        #expect(message.contains("SQLite 3.32.3"))
        #expect(message.contains("3.33 or later"))
        #expect(message.contains("apt-get install libsqlite3-dev"))
        #expect(SQLiteVersion.problem(number: 3_033_000, text: "3.33.0") == nil)
        #expect(SQLiteVersion.problem(number: 3_040_001, text: "3.40.1") == nil)
    }

    @Test func theLibraryHereIsNewEnough() {
        #expect(SQLiteVersion.runningProblem == nil)
    }
}
