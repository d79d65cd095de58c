import GRDB

/// What a failed read of the store means to a reader that goes on (the live
/// feed of the web app): a failure that passes by itself, or damage that
/// `syncctl check` should look at.
public enum ReadFailure {
    /// True for the database busy or locked by another connection (or a
    /// WAL locking race), the disk full, a read interrupted or cancelled,
    /// memory or file handles short, a connection closed while shutting
    /// down: trying again later may work. Anything else — a row that does
    /// not decode (`StoreError.corruptSlot`), SQLite's corrupt,
    /// not-a-database and I/O errors — is damage.
    public static func passes(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        guard let error = error as? DatabaseError else { return false }
        if error.extendedResultCode == .SQLITE_IOERR_NOMEM { return true }
        return [.SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_FULL, .SQLITE_INTERRUPT, .SQLITE_NOMEM, .SQLITE_PROTOCOL, .SQLITE_CANTOPEN,
                .SQLITE_MISUSE].contains(error.resultCode)
    }
}
