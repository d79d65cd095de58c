import Crypto
import Foundation

/// The position after the last row of a page: the sort column's cell as the
/// view held it (its storage class and bytes, so that a value of another
/// type than its field, e.g. text or a real in an INTEGER column, keeps its
/// place in SQLite's order) and the row's id. Opaque to clients: base64url
/// of a small binary form, checked when read back (docs/api.md, "Paging").
///
/// Form 2: `02`, a tag byte (1 integer, 2 real, 3 text, 4 blob, 0 no sort
/// field; `0x80` set when the bytes are cut), then 8 bytes big-endian for a
/// number or a 2-byte big-endian length and the bytes for text or a blob
/// (when cut, then 16 bytes of the SHA-256 of the whole cell), then the
/// id's bytes to the end. Cursors of form 1 (base64url of the
/// JSON array `[value, id]`), handed out before, are still read.
public struct PageCursor: Equatable, Sendable {
    /// The sort cell, or its first `maxSortBytes` bytes when `isCut`; nil
    /// when the page is sorted by id.
    public let sortCell: SQLCell?
    /// The row's id as the view holds it (bytes, never mended).
    public let idBytes: [UInt8]
    /// Of a cut cell, the first 16 bytes of the SHA-256 of the whole cell:
    /// the row read again is taken as the position only when it still
    /// holds exactly that cell. Empty when the cell is whole.
    let wholeDigest: [UInt8]

    /// Whether `sortCell` holds only the first bytes of a longer text or blob:
    /// the page reads the whole cell again by id (`Store.resolve`).
    public var isCut: Bool { !wholeDigest.isEmpty }

    public var id: String { String(decoding: idBytes, as: UTF8.self) }

    /// The longest cursor accepted (a cursor comes from a client in a URL).
    public static let maxBytes = 2_048
    /// The most bytes of a text or blob sort cell a cursor carries; a longer
    /// one is cut and looked up again by id.
    public static let maxSortBytes = 256

    public init(sortCell: SQLCell?, id: [UInt8]) {
        switch sortCell {
        case .text(let bytes) where bytes.count > Self.maxSortBytes:
            self.sortCell = .text(Array(bytes.prefix(Self.maxSortBytes)))
            wholeDigest = Self.digest(bytes)
        case .blob(let bytes) where bytes.count > Self.maxSortBytes:
            self.sortCell = .blob(Array(bytes.prefix(Self.maxSortBytes)))
            wholeDigest = Self.digest(bytes)
        default:
            self.sortCell = sortCell
            wholeDigest = []
        }
        idBytes = id
    }

    /// A cursor as it is: `digest` non-empty for a cut cell.
    init(exact sortCell: SQLCell?, id: [UInt8], digest: [UInt8] = []) {
        self.sortCell = sortCell
        idBytes = id
        wholeDigest = digest
    }

    static func digest(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes).prefix(16)) }

    public func encode() -> String {
        var bytes: [UInt8] = [2]
        let cut: UInt8 = isCut ? 0x80 : 0
        func append(_ number: UInt64) {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: number >> UInt64(shift))) }
        }
        func append(_ tag: UInt8, counted payload: [UInt8]) {
            bytes.append(tag | cut)
            bytes.append(UInt8(truncatingIfNeeded: payload.count >> 8))
            bytes.append(UInt8(truncatingIfNeeded: payload.count))
            bytes.append(contentsOf: payload)
            if isCut { bytes.append(contentsOf: wholeDigest) }
        }
        switch sortCell {
        case nil, .null?: bytes.append(0)
        case .integer(let number)?: bytes.append(1); append(UInt64(bitPattern: number))
        case .real(let number)?: bytes.append(2); append(number.bitPattern)
        case .text(let payload)?: append(3, counted: payload)
        case .blob(let payload)?: append(4, counted: payload)
        }
        bytes.append(contentsOf: idBytes)
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: String) throws -> PageCursor {
        let invalid = StoreError.invalidEdit("the page cursor is not one this server made: start again from the first page")
        guard text.utf8.count <= maxBytes else { throw invalid }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let first = data.first else { throw invalid }
        if first == UInt8(ascii: "[") {
            guard let parts = try? JSONDecoder().decode([JSONValue].self, from: data), parts.count == 2,
                  case .text(let id) = parts[1].value else { throw invalid }
            let cell: SQLCell? = switch parts[0].value {
            case .null: nil
            case .bool(let flag): .integer(flag ? 1 : 0)
            case .int(let number): .integer(number)
            case .text(let text): .text(Array(text.utf8))
            }
            return PageCursor(exact: cell, id: Array(id.utf8))
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 2, bytes[0] == 2 else { throw invalid }
        let isCut = bytes[1] & 0x80 != 0
        var at = 2
        func number() throws -> UInt64 {
            guard bytes.count - at >= 8 else { throw invalid }
            defer { at += 8 }
            return bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) }
        }
        func counted() throws -> [UInt8] {
            guard bytes.count - at >= 2 else { throw invalid }
            let count = Int(bytes[at]) << 8 | Int(bytes[at + 1])
            at += 2
            guard count <= maxSortBytes, bytes.count - at >= count, !isCut || count == maxSortBytes else { throw invalid }
            defer { at += count }
            return Array(bytes[at..<at + count])
        }
        func digest() throws -> [UInt8] {
            guard isCut else { return [] }
            guard bytes.count - at >= 16 else { throw invalid }
            defer { at += 16 }
            return Array(bytes[at..<at + 16])
        }
        let cell: SQLCell?
        switch bytes[1] & 0x7F {
        case 0: cell = nil
        case 1: cell = .integer(Int64(bitPattern: try number()))
        case 2: cell = .real(Double(bitPattern: try number()))
        case 3: cell = .text(try counted())
        case 4: cell = .blob(try counted())
        default: throw invalid
        }
        if isCut, bytes[1] & 0x7F < 3 { throw invalid }
        let whole = try digest()
        let id = Array(bytes[at...])
        return PageCursor(exact: cell, id: id, digest: whole)
    }

    /// The cursor to page from once a cut cell has been read again by id:
    /// the whole cell when the row still holds exactly the cell the page
    /// ended on (same bytes: its digest), else a bound next to the carried
    /// bytes that repeats rows rather than skip any (ascending: the bytes
    /// themselves with the empty id, below every cell they begin;
    /// descending: the least cell above every cell they begin — for text,
    /// the bytes and 0xFF, which no valid UTF-8 holds; for a blob, the bytes
    /// up to their last byte under 0xFF, that byte one more).
    func resolved(current: SQLCell?, descending: Bool) -> PageCursor {
        guard isCut, let sortCell else { return self }
        let (prefix, isText): ([UInt8], Bool) = switch sortCell {
        case .text(let bytes): (bytes, true)
        case .blob(let bytes): (bytes, false)
        default: ([], true)
        }
        switch current {
        case .text(let whole)? where isText && Self.digest(whole) == wholeDigest: return PageCursor(exact: .text(whole), id: idBytes)
        case .blob(let whole)? where !isText && Self.digest(whole) == wholeDigest: return PageCursor(exact: .blob(whole), id: idBytes)
        default:
            guard descending else { return PageCursor(exact: isText ? .text(prefix) : .blob(prefix), id: []) }
            if isText { return PageCursor(exact: .text(prefix + [0xFF]), id: []) }
            guard let last = prefix.lastIndex(where: { $0 < 0xFF }) else {
                // 256 bytes 0xFF have no successor of their length: one more
                // 0xFF is above every blob but those that begin with 257 of
                // them. (Such a blob, or text that is not UTF-8 after the
                // carried bytes, reaches a view row only through an SQL edit
                // still waiting in the queue, or a write with the triggers
                // off; a descending walk whose cursor row changed may then
                // skip rows that sort between.)
                return PageCursor(exact: .blob(prefix + [0xFF]), id: [])
            }
            return PageCursor(exact: .blob(Array(prefix[..<last]) + [prefix[last] + 1]), id: [])
        }
    }
}
