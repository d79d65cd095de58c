import SyncCore

/// One line on standard error when a command took up SQL edits first.
enum SQLEditSummary {
    static func line(_ report: SQLEditReport) -> String {
        var parts = ["took up \(report.applied + report.unchanged) SQL edit(s) of the collection tables first"]
        if report.refusedCount > 0 {
            parts.append("\(report.refusedCount) refused and kept (`syncctl sql list` shows why)")
        }
        return "syncctl: " + parts.joined(separator: "; ") + "\n"
    }
}
