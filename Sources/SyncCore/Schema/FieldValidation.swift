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
            // By bytes (§2.4): `contains` on Strings accepted the NFD spelling
            // of an allowed "é" and stored bytes not in the list. Another
            // spelling of an allowed value (same NFC bytes) stores the
            // allowed value's own bytes. Earlier versions stored such a
            // spelling as typed: a received state holding one is a schema
            // problem (filters compare bytes and would miss it), and an
            // import of the value rewrites the allowed bytes.
            if allowed.contains(where: { UTF8Identity.equal($0, text) }) { return value }
            let normalized = text.precomposedStringWithCanonicalMapping
            guard let match = allowed.first(where: { UTF8Identity.equal($0.precomposedStringWithCanonicalMapping, normalized) }) else {
                throw .notInEnum(field: name, value: text, allowed: allowed)
            }
            return .text(match)
        case (.ref, .text(let text)):
            return .text(try normalizeRef(text))
        default:
            throw .invalidValue(field: name, value: value.description, expected: expectation)
        }
    }

    /// Checks a set member and returns its canonical key.
    ///
    /// A member typed locally becomes a slot's key: it is normalized to NFC,
    /// so the same word typed on two systems names the same slot
    /// (replication-model §2.4), and may hold no NUL.
    public func validateMember(_ member: String) throws(SchemaError) -> String {
        guard isSet else { throw .notASet(field: name) }
        let member = member.precomposedStringWithCanonicalMapping
        guard !member.isEmpty else { throw .invalidValue(field: name, value: member, expected: "a non-empty member") }
        guard !UTF8Identity.containsNUL(member), member.utf8.count <= ReceiveLimits().maxKeyPartBytes else {
            throw .invalidValue(field: name, value: String(member.prefix(64)), expected: "a member of at most \(ReceiveLimits().maxKeyPartBytes) bytes without NUL")
        }
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

    /// True for `collection/id` with a target collection and a valid id; no allocation
    /// (this runs for every set member received from a peer).
    func isCanonicalRef(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard let slash = utf8.firstIndex(of: UInt8(ascii: "/")) else { return false }
        let collection = utf8[..<slash]
        guard (targets ?? []).contains(where: { $0.utf8.elementsEqual(collection) }) else { return false }
        let id = text[text.index(after: slash)...]
        do { try RecordIDRule.check(id) } catch { return false }
        return true
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

    /// `-?[0-9]+(\.[0-9]+)?`, checked byte by byte (this runs once per received slot).
    static func isDecimal(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        let integer = bytes.prefix { (48...57).contains($0) }
        guard !integer.isEmpty else { return false }
        bytes = bytes.dropFirst(integer.count)
        if bytes.isEmpty { return true }
        guard bytes.first == UInt8(ascii: ".") else { return false }
        let fraction = bytes.dropFirst()
        return !fraction.isEmpty && fraction.allSatisfy { (48...57).contains($0) }
    }

    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, a real calendar day.
    static func isDate(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for index in range {
                guard (48...57).contains(bytes[index]) else { return nil }
                value = value * 10 + Int(bytes[index] - 48)
            }
            return value
        }
        guard let year = number(0..<4) else { return false }
        if bytes.count == 4 { return true }
        guard bytes.count >= 7, bytes[4] == UInt8(ascii: "-"), let month = number(5..<7), (1...12).contains(month) else { return false }
        if bytes.count == 7 { return true }
        guard bytes.count == 10, bytes[7] == UInt8(ascii: "-"), let day = number(8..<10), day >= 1 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days
    }
}

/// Which record ids are allowed: short, URL- and shell-friendly names.
public enum RecordIDRule {
    /// 1–128 ASCII letters, digits, `-`, `_` or `.`, not starting with `.` or `_`.
    public static func check(_ id: String) throws(SchemaError) { try check(id[...]) }

    public static func check(_ id: Substring) throws(SchemaError) {
        var count = 0
        for byte in id.utf8 {
            count += 1
            let allowed = (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
                || byte == UInt8(ascii: "-") || (count > 1 && (byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")))
            guard allowed, count <= 128 else { throw .invalidRecordID(String(id)) }
        }
        guard count > 0 else { throw .invalidRecordID(String(id)) }
    }
}

extension Schema {
    /// Why a replicated slot state does not fit this schema, or nil if it does.
    ///
    /// Used on states received from peers: they are stored whatever this says
    /// (a newer peer may know more), and the problem is reported.
    public func problem(for key: SlotKey, state: SlotState) -> String? {
        guard let collection = collection(key.collection) else { return "unknown collection '\(key.collection)'" }
        do { try RecordIDRule.check(key.record) } catch {
            return "record id '\(key.record.prefix(64))\(key.record.utf8.count > 64 ? "…" : "")' is not a valid id (\(key.record.utf8.count) bytes; ids are 1–128 ASCII letters, digits, '-', '_' or '.')"
        }
        if key.field == SlotKey.existsField {
            if !key.element.isEmpty { return "_exists written with a member '\(key.element.prefix(64))'" }
            return state.versions.allSatisfy { if case .bool = $0.value { true } else { $0.value == .null } }
                ? nil : "_exists holds a non-boolean value"
        }
        guard let field = collection.field(key.field) else { return "unknown field '\(key.collection).\(key.field)'" }
        if field.isSet {
            if key.element.isEmpty { return "set field '\(field.name)' written without a member" }
            if field.of == .ref, !field.isCanonicalRef(key.element) {
                return "set member '\(key.element)' is not a reference COLLECTION/ID into \((field.targets ?? []).joined(separator: " or "))"
            }
            return state.versions.allSatisfy { if case .bool = $0.value { true } else { false } }
                ? nil : "set member '\(key.element)' holds a non-boolean value"
        }
        if !key.element.isEmpty { return "scalar field '\(field.name)' written with a member '\(key.element)'" }
        for version in state.versions {
            do {
                let normalized = try field.validate(version.value)
                if normalized != version.value {
                    // By bytes: an enum value in another spelling (NFD) of an
                    // allowed one is held as written, and a filter on the
                    // allowed value does not find it until it is rewritten.
                    // In a conflict (versions whose values differ) an import
                    // compares with the winner and may write nothing.
                    let fix = SlotReader.scalar(state).isConflicted ? "resolve the conflict (`syncctl resolve`) with the allowed value"
                        : "import or set the value again to store the allowed bytes"
                    return field.type == .enumeration
                        ? "value '\(version.value)' is another spelling (other bytes) of the allowed '\(normalized)'; filters on '\(normalized)' miss it: \(fix)"
                        : "value '\(version.value)' is not in canonical form"
                }
            } catch { return error.description }
        }
        return nil
    }
}
