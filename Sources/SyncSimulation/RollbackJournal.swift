import Foundation
import SyncCore

/// SQLite rollback journals, as a power cut can leave them beside a file.
public enum RollbackJournal {
    /// A journal that says the database had `pages` pages of `pageSize`
    /// bytes before its transaction: SQLite's journal header with no page
    /// records, so rolling it back cuts the file to that size (0: empties
    /// it). Beside a copy whose transaction committed, it is the journal a
    /// power cut kept when it lost the journal's removal.
    public static func header(restoringPages pages: UInt32, pageSize: UInt32) -> Data {
        var header = Data(LeftoverJournal.magic)
        func be(_ value: UInt32) { header.append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]) }
        be(0)            // page records: none
        be(0x1234_5678)  // checksum nonce
        be(pages)        // database size before the transaction
        be(512)          // sector size
        be(pageSize)     // page size
        header.append(Data(count: 512 - header.count))
        return header
    }

    /// A hot journal that restores `pages` (page number from 1, and the
    /// page's bytes as they were) and cuts the file to `pagesBefore` pages:
    /// the journal a transaction leaves when a power cut comes after it
    /// wrote those pages over. Checksums as SQLite computes them.
    public static func restoring(_ pages: [(number: UInt32, bytes: Data)], pagesBefore: UInt32, pageSize: UInt32) -> Data {
        let nonce: UInt32 = 0x1234_5678
        var journal = header(restoringPages: pagesBefore, pageSize: pageSize)
        journal.replaceSubrange(8..<12, with: bigEndian(UInt32(pages.count)))
        for page in pages {
            precondition(page.bytes.count == Int(pageSize), "a page of \(page.bytes.count) bytes, not \(pageSize)")
            journal.append(bigEndian(page.number))
            journal.append(page.bytes)
            // SQLite's pager_cksum: the nonce plus every 200th byte, from the end.
            var sum = nonce
            var index = Int(pageSize) - 200
            while index > 0 {
                sum &+= UInt32(page.bytes[page.bytes.startIndex + index])
                index -= 200
            }
            journal.append(bigEndian(sum))
        }
        return journal
    }

    private static func bigEndian(_ value: UInt32) -> Data {
        Data([UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)])
    }
}
