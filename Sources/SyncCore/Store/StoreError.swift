import GRDB

/// What the store refuses, each message naming the record or file and the fix.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    case recordNotFound(RecordRef)
    case existenceConflicted(RecordRef)
    case siblingsChanged(SlotKey, current: [Version])
    case notConflicted(SlotKey)
    case corruptSlot(SlotKey, reason: String)
    case invalidEdit(String)
    case unsupportedFormat(path: String, found: Int, supported: Int)
    case cannotOpen(path: String, reason: String)
    /// SQLite's error (its extended result code kept) opening the database:
    /// said as `cannotOpen` is, and told apart where a full disk or a lock
    /// must be (`KeptAsideFold.passes`).
    case cannotOpenDatabase(path: String, reason: String, code: Int32)
    /// A received batch broke a limit of `ReceiveLimits`; nothing of it was stored.
    case batchRefused(BatchRefusal)
    /// The sending session's replica id is now bound to another device.
    case bindingMoved(replica: ReplicaID, device: String)
    /// The wall clock is further behind the last stamped change than the drift cap.
    case clockBehind(millis: UInt64, limit: UInt64)
    /// A local write of a value larger than the limit.
    case valueTooLarge(SlotKey, bytes: Int, limit: Int)
    /// A create of a record that exists (when asked to create only).
    case recordExists(RecordRef)
    /// An edit made against versions that are no longer the live ones.
    case fieldsChanged(RecordRef, fields: [String])

    public var description: String {
        switch self {
        case .recordNotFound(let ref):
            return "no record \(ref). List what exists with `syncctl list \(ref.collection)`, or create it with `syncctl create \(ref) FIELD=VALUE …`."
        case .existenceConflicted(let ref):
            return "\(ref) was deleted on one replica and edited on another. Decide first whether it exists: `syncctl resolve \(ref) _exists --pick N` (see `syncctl conflicts \(ref)`)."
        case .siblingsChanged(let key, let current):
            let list = current.enumerated().map { "  \($0.offset + 1). \($0.element.value) (by \($0.element.author), \($0.element.hlc))" }
            return "the conflicting versions of \(key) changed since they were listed; nothing was written. Now:\n" + list.joined(separator: "\n")
        case .notConflicted(let key):
            return "\(key) is not in conflict; edit it with `syncctl set` instead."
        case .corruptSlot(let key, let reason):
            return "slot \(key) cannot be decoded (\(reason)); run `syncctl check` and restore from a snapshot if it persists."
        case .invalidEdit(let reason):
            return reason
        case .unsupportedFormat(let path, let found, let supported):
            return "database \(path) has format \(found), this build reads up to \(supported): upgrade syncd/syncctl."
        case .cannotOpen(let path, let reason), .cannotOpenDatabase(let path, let reason, _):
            return "cannot open database \(path): \(reason)"
        case .bindingMoved(let replica, let device):
            return "replica id \(replica) is now bound to device \(device), which proved it: this session had claimed it without proof"
        case .batchRefused(let refusal):
            return "refused a received batch, nothing of it was stored: \(refusal)"
        case .clockBehind(let millis, let limit):
            return "the system clock is \(millis / 1_000) s behind the last change this database stamped (more than the \(limit / 1_000) s allowed): set the clock right (`timedatectl`, or the machine's date settings) and try again. Nothing was written."
        case .recordExists(let ref):
            return "\(ref) already exists: edit it instead (`syncctl set \(ref) FIELD=VALUE`)."
        case .fieldsChanged(let ref, let fields):
            return "\(fields.joined(separator: ", ")) of \(ref) changed since they were shown; nothing was written. Look at the new values and edit again."
        case .valueTooLarge(let key, let bytes, let limit):
            return "the value for \(key) is \(bytes) bytes, more than the limit of \(limit): shorten it, or keep the long text in a source's url."
        }
    }
}

extension StoreError {
    /// `cannotOpen`, or `cannotOpenDatabase` for SQLite's own error.
    static func cannotOpening(path: String, _ error: any Error) -> StoreError {
        guard let error = error as? DatabaseError else { return .cannotOpen(path: path, reason: "\(error)") }
        return .cannotOpenDatabase(path: path, reason: "\(error)", code: error.extendedResultCode.rawValue)
    }
}
