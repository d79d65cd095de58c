import Foundation

/// One Server-Sent Event, encoded per the HTML standard (pure): data lines
/// never hold a raw newline, so a value cannot forge another event.
public struct ServerSentEvent: Sendable, Equatable {
    public var id: String?
    public var event: String
    public var data: String

    public init(id: String? = nil, event: String, data: String) {
        self.id = id
        self.event = event
        self.data = data
    }

    public var encoded: String {
        var text = ""
        if let id { text += "id: \(Self.singleLine(id))\n" }
        text += "event: \(Self.singleLine(event))\n"
        for line in data.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            text += "data: \(line)\n"
        }
        return text + "\n"
    }

    static func singleLine(_ text: String) -> String {
        String(text.filter { $0 != "\n" && $0 != "\r" && $0 != "\r\n" })
    }

    public static func comment(_ text: String) -> String { ": \(singleLine(text))\n\n" }
}
