import GRDB

/// What a failed read of the store means to a reader that goes on (the live
/// feed of the web app): a failure that passes by itself, or damage that
/// `syncctl check` should look at.
public enum ReadFailure {
    /// True for the database busy or locked by another connection (or a
    /// WAL locking race), the disk full, a read interrupted or cancelled,
    /// memory short: trying again later may work. Anything else — a row
    /// that does not decode (`StoreError.corruptSlot`), SQLite's corrupt,
    /// not-a-database, cannot-open and I/O errors, a misuse — does not go
    /// away by itself and is told.
    public static func passes(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        guard let error = error as? DatabaseError else { return false }
        if error.extendedResultCode == .SQLITE_IOERR_NOMEM { return true }
        return [.SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_FULL, .SQLITE_INTERRUPT, .SQLITE_NOMEM, .SQLITE_PROTOCOL].contains(error.resultCode)
    }
}
