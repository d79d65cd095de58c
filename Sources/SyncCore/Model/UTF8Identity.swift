#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Identity of replicated text: two strings are the same exactly when their
/// UTF-8 bytes are (replication-model §2.4).
///
/// Swift's `String ==`, `<` and `hash(into:)` follow Unicode canonical
/// equivalence, so "é" typed as one scalar (NFC) and as "e" plus a combining
/// accent (NFD) compare equal there while the store, the wire and the digest
/// see different bytes. Every type that names or carries replicated text
/// compares through these functions instead.
public enum UTF8Identity {
    /// Whether `a` and `b` have the same UTF-8 bytes.
    @inlinable
    public static func equal(_ a: String, _ b: String) -> Bool {
        let fast = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right in
                left.count == right.count && (left.count == 0 || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
            }
        }
        if let fast, let result = fast { return result }
        return a.utf8.elementsEqual(b.utf8)
    }

    /// Byte-lexicographic order of the UTF-8 encodings (SQLite's BINARY collation).
    @inlinable
    public static func less(_ a: String, _ b: String) -> Bool {
        let fast = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right in
                let common = min(left.count, right.count)
                let order = common == 0 ? 0 : memcmp(left.baseAddress!, right.baseAddress!, common)
                return order != 0 ? order < 0 : left.count < right.count
            }
        }
        if let fast, let result = fast { return result }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// Whether `bytes` are the UTF-8 bytes of `text` (a memcmp, not a walk
    /// of the UTF-8 view).
    @inlinable
    public static func bytes(_ bytes: UnsafeBufferPointer<UInt8>, equal text: String) -> Bool {
        let fast = text.utf8.withContiguousStorageIfAvailable { utf8 in
            utf8.count == bytes.count && (bytes.count == 0 || memcmp(utf8.baseAddress!, bytes.baseAddress!, bytes.count) == 0)
        }
        return fast ?? bytes.elementsEqual(text.utf8)
    }

    /// Whether `text` holds a NUL byte (which SQLite's C text API takes for
    /// its end).
    @inlinable
    public static func containsNUL(_ text: String) -> Bool {
        let fast = text.utf8.withContiguousStorageIfAvailable { utf8 in
            utf8.count > 0 && memchr(utf8.baseAddress!, 0, utf8.count) != nil
        }
        return fast ?? text.utf8.contains(0)
    }

    /// The characters of `text`, in order, that fit in `maxBytes` of UTF-8
    /// (never a character split): for names and reasons with a byte limit.
    public static func fitting(_ text: String, maxBytes: Int) -> String {
        var out = ""
        for character in text where out.utf8.count + character.utf8.count <= maxBytes { out.append(character) }
        return out
    }

    /// Feeds the UTF-8 bytes (and their count) to `hasher`.
    @inlinable
    public static func hash(_ text: String, into hasher: inout Hasher) {
        hasher.combine(text.utf8.count)
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil { for byte in text.utf8 { hasher.combine(byte) } }
    }
}

/// A `String` that is equal, ordered and hashed by its UTF-8 bytes: the key
/// type for dictionaries and sets of replicated text (batch string tables,
/// set members, record ids).
public struct UTF8Key: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let string: String

    @inlinable public init(_ string: String) { self.string = string }

    @inlinable public static func == (lhs: UTF8Key, rhs: UTF8Key) -> Bool { UTF8Identity.equal(lhs.string, rhs.string) }
    @inlinable public static func < (lhs: UTF8Key, rhs: UTF8Key) -> Bool { UTF8Identity.less(lhs.string, rhs.string) }
    @inlinable public func hash(into hasher: inout Hasher) { UTF8Identity.hash(string, into: &hasher) }

    public var description: String { string }
}

extension Unicode.GeneralCategory {
    var isControlOrFormat: Bool { self == .control || self == .format || self == .lineSeparator || self == .paragraphSeparator }
    /// Control, format, separator, unassigned, surrogate or private-use:
    /// characters that do not show as themselves (labels and dataset names
    /// refuse or escape them).
    var isHiddenOrUnassigned: Bool { isControlOrFormat || self == .unassigned || self == .surrogate || self == .privateUse }
}
