/// A `sync_records` row read as a check reads a file from anywhere: the
/// cells by storage class, names from their bytes (GRDB would read a blob
/// as text and text up to a NUL, so two rows could read as one record whose
/// hashes cancel in the digest), every slot decoded, none twice.
/// The join check, snapshot verification and `syncctl check`'s digest
/// recount read rows so.
enum CheckedRecordRow {
    /// Why a row is not one syncd writes.
    enum Problem: Error, CustomStringConvertible {
        /// The row's id when it is an integer.
        case cells(id: Int64?)
        case names(id: Int64)
        case undecodable(StoreError)
        case twice(RecordRef, FieldElement)

        var description: String {
            switch self {
            case .cells(let id):
                "\(id.map { "record row \($0)" } ?? "a record row whose id is not an integer"): its cells are not of the types syncd writes (text names, a blob of slots, integer counts)"
            case .names(let id): "record row \(id): a name with a NUL byte or bytes that are not UTF-8"
            case .undecodable(let error): "\(error)"
            case .twice(let ref, let name): "\(ref): slot \(name.field) \(name.element) twice in its row"
            }
        }
    }

    /// The row `rows` stands on, whose first four columns are `id,
    /// collection, record, slots`; `also` names further columns that must
    /// hold integers (a slot count).
    static func read(_ rows: FastStatement, integerColumns also: [Int32] = [])
        -> Result<(id: Int64, ref: RecordRef, slots: [FieldElement: StoredSlot]), Problem> {
        guard rows.isInteger(0), rows.isText(1), rows.isText(2), rows.isBlob(3), also.allSatisfy(rows.isInteger) else {
            return .failure(.cells(id: rows.isInteger(0) ? rows.int(0) : nil))
        }
        let id = rows.int(0)
        guard let collection = rows.strictText(1), let record = rows.strictText(2) else { return .failure(.names(id: id)) }
        let ref = RecordRef(collection: collection, id: record)
        let blob = rows.blob(3)
        var slots: [FieldElement: StoredSlot] = [:]
        slots.reserveCapacity(StoredRecord.slotCountBound(blob))
        var twice: FieldElement?
        do {
            try StoredRecord.forEach(blob, ref: ref) { name, slot in
                if slots.updateValue(slot, forKey: name) != nil { twice = name }
            }
        } catch {
            return .failure(.undecodable(error))
        }
        if let twice { return .failure(.twice(ref, twice)) }
        return .success((id, ref, slots))
    }
}
