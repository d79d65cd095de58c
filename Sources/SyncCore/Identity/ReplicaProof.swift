import Crypto

/// Replica ids a device can prove it owns (replication-model §3.3).
///
/// A replica id made by a device that knows its device ID is the first 16
/// bytes of SHA-256("syncd replica id v1" ‖ device-ID bytes ‖ nonce), with a
/// fresh 16-byte random nonce. After the hellos, peers of protocol minor ≥ 2
/// send their nonce (`SyncMessage.replicaProof`); the receiver recomputes the
/// id from the device ID that the TLS handshake proved and the nonce. Nobody
/// without the device's key can present an id that checks out for that
/// device, so an id cannot be squatted by another device before its owner
/// first connects. Pure: no I/O, no clock, no randomness (the nonce is given).
public enum ReplicaProof {
    public static let nonceBytes = 16
    static let domain = Array("syncd replica id v1".utf8)

    /// The id that `device` derives from `nonce`.
    public static func replica(device: DeviceID, nonce: [UInt8]) -> ReplicaID {
        var hash = SHA256()
        hash.update(data: domain)
        hash.update(data: device.bytes)
        hash.update(data: nonce)
        return ReplicaID(bytes: Array(hash.finalize()).prefix(16))!
    }

    /// Whether `nonce` proves that `device` made `replica` (bytes compared).
    public static func proves(replica: ReplicaID, device: DeviceID, nonce: [UInt8]) -> Bool {
        nonce.count == nonceBytes && self.replica(device: device, nonce: nonce).bytes == replica.bytes
    }

    /// What a peer's hello and proof say about its replica id.
    public enum Outcome: Equatable, Sendable {
        /// The nonce derives the presented id from the peer's device.
        case proven
        /// A peer older than minor 2: it cannot prove; bound first come, first bound.
        case unprovable
        /// A peer of minor ≥ 2 whose proof is missing or wrong: refuse it.
        case failed(String)
    }

    /// The first minor version that sends a proof.
    public static let firstMinor: UInt16 = 2

    /// Judges a peer's replica id from its hello's minor version, the nonce
    /// it sent (nil when it sent none) and the device its certificate proved.
    public static func judge(replica: ReplicaID, minor: UInt16, nonce: [UInt8]?, device: DeviceID) -> Outcome {
        guard minor >= firstMinor else { return .unprovable }
        guard let nonce else { return .failed("a peer of protocol minor \(minor) sent no replica proof") }
        guard nonce.count == nonceBytes else { return .failed("replica proof nonce has \(nonce.count) bytes, not \(nonceBytes)") }
        guard proves(replica: replica, device: device, nonce: nonce) else {
            return .failed("replica id \(replica) is not derived from device \(device.short)…: it was made by another device")
        }
        return .proven
    }
}
