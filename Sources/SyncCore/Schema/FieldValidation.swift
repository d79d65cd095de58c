import Foundation

/// Checking and normalizing values against a field's type.
///
/// Local writes go through `validate`/`parse` and fail with a `SchemaError`;
/// remote states go through `Schema.problem(for:state:)`, which only reports.
extension FieldSchema {
    /// Parses text typed by an analyst (`FIELD=VALUE`) into a checked value.
    /// An empty string clears the field.
    public func parse(_ text: String) throws(SchemaError) -> Value {
        if isSet { throw .isASet(field: name) }
        if text.isEmpty { return .null }
        switch type {
        case .integer:
            guard let number = Int64(text) else { throw .invalidValue(field: name, value: text, expected: "a whole number") }
            return .int(number)
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "1": return .bool(true)
            case "false", "no", "0": return .bool(false)
            default: throw .invalidValue(field: name, value: text, expected: "true or false")
            }
        default:
            return try validate(.text(text))
        }
    }

    /// Checks a scalar value and returns its canonical form (refs as `collection/id`).
    public func validate(_ value: Value) throws(SchemaError) -> Value {
        if isSet { throw .isASet(field: name) }
        if value == .null { return .null }
        switch (type, value) {
        case (.text, .text):
            return value
        case (.integer, .int):
            return value
        case (.integer, .text(let text)):
            return try parse(text)
        case (.bool, .bool):
            return value
        case (.decimal, .int(let number)):
            return .text(String(number))
        case (.decimal, .text(let text)):
            guard Self.isDecimal(text) else { throw .invalidValue(field: name, value: text, expected: "a decimal number like 12.5") }
            return value
        case (.date, .text(let text)):
            guard Self.isDate(text) else {
                throw .invalidValue(field: name, value: text, expected: "a date as YYYY-MM-DD (or YYYY-MM, or YYYY)")
            }
            return value
        case (.enumeration, .text(let text)):
            let allowed = values ?? []
            guard allowed.contains(text) else { throw .notInEnum(field: name, value: text, allowed: allowed) }
            return value
        case (.ref, .text(let text)):
            return .text(try normalizeRef(text))
        default:
            throw .invalidValue(field: name, value: value.description, expected: expectation)
        }
    }

    /// Checks a set member and returns its canonical key.
    public func validateMember(_ member: String) throws(SchemaError) -> String {
        guard isSet else { throw .notASet(field: name) }
        guard !member.isEmpty else { throw .invalidValue(field: name, value: member, expected: "a non-empty member") }
        return of == .ref ? try normalizeRef(member) : member
    }

    /// A reference as `collection/id`; a bare id is accepted when the field has one target.
    func normalizeRef(_ text: String) throws(SchemaError) -> String {
        let targets = targets ?? []
        if let ref = RecordRef(parsing: text) {
            guard targets.contains(ref.collection) else {
                throw .invalidValue(field: name, value: text, expected: "a reference into \(targets.joined(separator: " or "))")
            }
            try RecordIDRule.check(ref.id)
            return ref.description
        }
        guard targets.count == 1 else {
            throw .invalidValue(field: name, value: text, expected: "a reference written COLLECTION/ID, COLLECTION one of \(targets.joined(separator: ", "))")
        }
        try RecordIDRule.check(text)
        return "\(targets[0])/\(text)"
    }

    var expectation: String {
        switch type {
        case .text: "text"
        case .integer: "a whole number"
        case .decimal: "a decimal number"
        case .date: "a date as YYYY-MM-DD"
        case .bool: "true or false"
        case .enumeration: "one of \((values ?? []).joined(separator: ", "))"
        case .ref: "a reference into \((targets ?? []).joined(separator: " or "))"
        case .set: "a set member"
        }
    }

    static func isDecimal(_ text: String) -> Bool {
        text.wholeMatch(of: /-?[0-9]+(\.[0-9]+)?/) != nil
    }

    static func isDate(_ text: String) -> Bool {
        guard let match = text.wholeMatch(of: /([0-9]{4})(-([0-9]{2})(-([0-9]{2}))?)?/) else { return false }
        guard let monthText = match.output.3 else { return true }
        guard let month = Int(monthText), (1...12).contains(month) else { return false }
        guard let dayText = match.output.5 else { return true }
        guard let year = Int(match.output.1), let day = Int(dayText) else { return false }
        var components = DateComponents()
        components.year = year
        components.month = month
        components.day = day
        let calendar = Calendar(identifier: .gregorian)
        guard let date = calendar.date(from: components) else { return false }
        return calendar.component(.day, from: date) == day && calendar.component(.month, from: date) == month
    }
}

/// Which record ids are allowed: short, URL- and shell-friendly names.
public enum RecordIDRule {
    public static func check(_ id: String) throws(SchemaError) {
        guard (1...128).contains(id.count), let first = id.unicodeScalars.first, first != ".", first != "_",
              id.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || "-_.".unicodeScalars.contains($0) })
        else { throw .invalidRecordID(id) }
    }
}

extension Schema {
    /// Why a replicated slot state does not fit this schema, or nil if it does.
    ///
    /// Used on states received from peers: they are stored whatever this says
    /// (a newer peer may know more), and the problem is reported.
    public func problem(for key: SlotKey, state: SlotState) -> String? {
        guard let collection = collection(key.collection) else { return "unknown collection '\(key.collection)'" }
        if key.field == SlotKey.existsField {
            return state.versions.allSatisfy { if case .bool = $0.value { true } else { $0.value == .null } }
                ? nil : "_exists holds a non-boolean value"
        }
        guard let field = collection.field(key.field) else { return "unknown field '\(key.collection).\(key.field)'" }
        if field.isSet {
            if key.element.isEmpty { return "set field '\(field.name)' written without a member" }
            do { _ = try field.validateMember(key.element) } catch { return error.description }
            return state.versions.allSatisfy { if case .bool = $0.value { true } else { false } }
                ? nil : "set member '\(key.element)' holds a non-boolean value"
        }
        if !key.element.isEmpty { return "scalar field '\(field.name)' written with a member '\(key.element)'" }
        for version in state.versions {
            do {
                let normalized = try field.validate(version.value)
                if normalized != version.value { return "value '\(version.value)' is not in canonical form" }
            } catch { return error.description }
        }
        return nil
    }
}
