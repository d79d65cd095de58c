import GRDBSQLite

/// The SQLite library this process runs on, against the oldest syncd's SQL
/// works with: a restore numbers queued SQL edits with window functions and
/// `UPDATE … FROM` (3.33). An older library would fail mid-restore with a
/// syntax error; a store refuses to open, and a restore to start, instead,
/// saying what to install. (`pragma_table_list`, 3.37, is only read where
/// its absence is harmless: STRICT tables and shadow tables need 3.37 too.)
enum SQLiteVersion {
    /// 3.33.0, as `sqlite3_libversion_number` counts.
    static let oldestSupported: Int32 = 3_033_000

    /// Nil when `number` is new enough, else what to tell the operator.
    static func problem(number: Int32, text: String) -> String? {
        guard number < oldestSupported else { return nil }
        return "this build runs on SQLite \(text); syncd needs SQLite 3.33 or later (on Debian or Ubuntu: apt-get install libsqlite3-dev, then build again)"
    }

    /// `problem` for the library loaded now.
    static var runningProblem: String? {
        problem(number: sqlite3_libversion_number(), text: String(cString: sqlite3_libversion()))
    }
}
