import Foundation

/// SQLite rollback journals, as a power cut can leave them beside a file.
public enum RollbackJournal {
    /// A journal that says the database had `pages` pages of `pageSize`
    /// bytes before its transaction: SQLite's journal header with no page
    /// records, so rolling it back cuts the file to that size (0: empties
    /// it). Beside a copy whose transaction committed, it is the journal a
    /// power cut kept when it lost the journal's removal.
    public static func header(restoringPages pages: UInt32, pageSize: UInt32) -> Data {
        var header = Data([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7])
        func be(_ value: UInt32) { header.append(contentsOf: [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]) }
        be(0)            // page records: none
        be(0x1234_5678)  // checksum nonce
        be(pages)        // database size before the transaction
        be(512)          // sector size
        be(pageSize)     // page size
        header.append(Data(count: 512 - header.count))
        return header
    }
}
