/// A slot state in its canonical encoding, with the hash and bucket it adds
/// to the digest: everything `SlotWriter` needs to store it that does not
/// depend on the database, so a batch can prepare its slots on several
/// threads and store them on one.
struct EncodedSlot: Sendable, Equatable {
    /// The canonical encoding of the state alone (the key is the row's).
    let state: [UInt8]
    let hash: SlotHash
    let bucket: Int

    /// Encodes `state` under `key` and hashes both.
    ///
    /// - Parameter scratch: a buffer reused from slot to slot.
    init(_ key: SlotKey, _ state: SlotState, scratch: inout BinaryWriter) {
        scratch.removeAll()
        SlotStateCodec.encode(key, into: &scratch)
        let keyCount = scratch.bytes.count
        SlotStateCodec.encode(state, into: &scratch)
        (hash, bucket) = scratch.bytes.withUnsafeBytes { encoded in
            (SlotHash(ofKeyAndState: encoded),
             StateDigest.bucket(forKeyBytes: UnsafeRawBufferPointer(rebasing: encoded[..<keyCount])))
        }
        // A copy of just the state: a slice of `scratch` would keep its whole
        // buffer alive and make the next `removeAll` allocate a new one.
        self.state = Array(scratch.bytes[keyCount...])
    }
}

extension StoredSlot {
    /// The hash and bucket this slot's stored encoding makes under `key`
    /// (rows keep no hash since format 6: a writer replacing the slot takes
    /// this one out of its bucket, a check adds up the bucket digests from
    /// them).
    ///
    /// - Parameter scratch: a buffer reused from slot to slot.
    func recomputedHash(under key: SlotKey, scratch: inout BinaryWriter) -> (hash: SlotHash, bucket: Int) {
        scratch.removeAll()
        SlotStateCodec.encode(key, into: &scratch)
        let keyCount = scratch.bytes.count
        scratch.writeRaw(encoded)
        return scratch.bytes.withUnsafeBytes { bytes in
            (SlotHash(ofKeyAndState: bytes), StateDigest.bucket(forKeyBytes: UnsafeRawBufferPointer(rebasing: bytes[..<keyCount])))
        }
    }
}
