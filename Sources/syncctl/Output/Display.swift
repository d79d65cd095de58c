import Foundation
import SyncCore

/// How values and versions are shown to an analyst.
enum Display {
    static func value(_ value: Value) -> String {
        switch value {
        case .null: "—"
        default: value.description
        }
    }

    static func version(_ version: Version) -> String {
        "\(value(version.value))  (by \(version.author), replica \(version.dot.replica.short), \(version.hlc))"
    }

    /// Fits `text` into `width` columns, with an ellipsis when cut.
    static func fit(_ text: String, _ width: Int) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ")
        if flat.count <= width { return flat.padding(toLength: width, withPad: " ", startingAt: 0) }
        return String(flat.prefix(max(0, width - 1))) + "…"
    }
}
