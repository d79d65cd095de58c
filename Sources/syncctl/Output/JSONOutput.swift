import Foundation
import SyncCore

/// The `--json` output (shapes in SyncCore's JSONShapes.swift, documented in
/// docs/cli-json.md; keep them stable: add fields, never rename or remove).
enum JSONOutput {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
