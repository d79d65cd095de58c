import Crypto
import Foundation
import X509

/// A statement by the team CA that a device is shut out (replication-model
/// §6.3): made with the CA's key (`syncctl ca revoke`), passed from daemon
/// to daemon, and obeyed by every daemon that trusts that CA. Only a
/// signature by the CA makes one: a peer can relay a revocation, never forge
/// or change one.
///
/// Signed bytes: "syncd revocation v1" ‖ the CA key id ‖ the device ID's 32
/// bytes ‖ the time (varint seconds) ‖ the reason (length-prefixed UTF-8).
/// Pure apart from the signature maths: no I/O, no clock.
public struct SignedRevocation: Codable, Sendable, Equatable {
    public var device: DeviceID
    public var revokedAt: Date
    public var reason: String
    /// SHA-256 of the CA's public key: which CA signed it.
    public var caKeyID: [UInt8]
    /// ECDSA P-256 over SHA-256, DER.
    public var signature: [UInt8]

    public static let maxReasonBytes = 200
    public static let maxSignatureBytes = 80
    static let domain = Array("syncd revocation v1".utf8)

    public init(device: DeviceID, revokedAt: Date, reason: String, caKeyID: [UInt8], signature: [UInt8]) {
        self.device = device
        self.revokedAt = revokedAt
        self.reason = reason
        self.caKeyID = caKeyID
        self.signature = signature
    }

    /// The bytes the CA signs.
    public var signedBytes: [UInt8] {
        var writer = BinaryWriter(capacity: 128)
        writer.writeRaw(Self.domain)
        writer.writeRaw(caKeyID)
        writer.writeRaw(device.bytes)
        writer.writeVarint(Self.seconds(revokedAt))
        writer.writeString(reason)
        return writer.bytes
    }

    static func seconds(_ date: Date) -> UInt64 { UInt64(max(0, min(date.timeIntervalSince1970, 1e12)).rounded(.down)) }

    /// The key id of a CA's public key.
    public static func keyID(of ca: Certificate.PublicKey) -> [UInt8] {
        Array(SHA256.hash(data: Array(ca.subjectPublicKeyInfoBytes)))
    }

    /// Signs a revocation of `device` with the CA key (the reason is cut to its limit).
    public static func make(device: DeviceID, reason: String, at time: Date, caKey: P256.Signing.PrivateKey) throws -> SignedRevocation {
        let reasonCut = UTF8Identity.fitting(PendingDeviceList.clean(reason, limit: maxReasonBytes), maxBytes: maxReasonBytes)
        var revocation = SignedRevocation(device: device, revokedAt: Date(timeIntervalSince1970: TimeInterval(seconds(time))), reason: reasonCut,
                                          caKeyID: keyID(of: Certificate.PublicKey(caKey.publicKey)), signature: [])
        revocation.signature = Array(try caKey.signature(for: revocation.signedBytes).derRepresentation)
        return revocation
    }

    public enum Check: Equatable, Sendable {
        case valid
        /// Signed by another CA than the one given (cannot be checked here).
        case otherCA
        case badSignature
    }

    /// Whether the CA whose certificate is `ca` signed exactly this.
    public func check(against ca: Certificate) -> Check {
        guard caKeyID == Self.keyID(of: ca.publicKey) else { return .otherCA }
        guard let key = P256.Signing.PublicKey(ca.publicKey),
              signature.count <= Self.maxSignatureBytes, reason.utf8.count <= Self.maxReasonBytes,
              let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature),
              key.isValidSignature(parsed, for: signedBytes) else { return .badSignature }
        return .valid
    }

    /// Same statement, byte for byte (the signature included).
    public func sameBytes(as other: SignedRevocation) -> Bool {
        signedBytes == other.signedBytes && signature == other.signature
    }

    // Codable: the byte fields as hex, the device as its printed ID.
    enum CodingKeys: String, CodingKey { case device, revokedAt, reason, caKeyID, signature }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        device = try container.decode(DeviceID.self, forKey: .device)
        revokedAt = try container.decode(Date.self, forKey: .revokedAt)
        reason = try container.decode(String.self, forKey: .reason)
        guard let key = Hex.decode(try container.decode(String.self, forKey: .caKeyID)),
              let signature = Hex.decode(try container.decode(String.self, forKey: .signature)) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "caKeyID and signature must be hex"))
        }
        caKeyID = key
        self.signature = signature
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(device, forKey: .device)
        try container.encode(revokedAt, forKey: .revokedAt)
        try container.encode(reason, forKey: .reason)
        try container.encode(Hex.encode(caKeyID), forKey: .caKeyID)
        try container.encode(Hex.encode(signature), forKey: .signature)
    }
}

/// The revocations a daemon holds (`revocations.json`): only ones it checked
/// against its team CA, one per device and CA, bounded.
public struct RevocationList: Codable, Sendable, Equatable {
    public private(set) var revocations: [SignedRevocation] = []
    /// Revocations kept; more are refused (and logged). At most ~600 bytes
    /// each in the file, so the list stays under `LockedJSONFile.maxFileBytes`;
    /// ~330 bytes each on the wire, so the whole list fits one message.
    public static let maxEntries = 1_000

    public init() {}

    /// Whether a revocation by the CA with key id `caKeyID` (the team CA
    /// now) names the device. A list copied from another team, or kept after
    /// `team_ca` changed, revokes nothing: no CA, no revocation.
    public func revokes(_ device: DeviceID, underCA caKeyID: [UInt8]?) -> Bool {
        guard let caKeyID else { return false }
        return revocations.contains { $0.device == device && $0.caKeyID == caKeyID }
    }

    /// The revocations by the CA with key id `caKeyID` (none without one).
    public func signed(by caKeyID: [UInt8]?) -> [SignedRevocation] {
        guard let caKeyID else { return [] }
        return revocations.filter { $0.caKeyID == caKeyID }
    }

    public enum Addition: Equatable, Sendable { case added, held, full }

    /// Adds a checked revocation.
    public mutating func add(_ revocation: SignedRevocation) -> Addition {
        guard !holds(revocation) else { return .held }
        guard revocations.count < Self.maxEntries else { return .full }
        revocations.append(revocation)
        return .added
    }

    /// Whether this exact revocation is held (no need to check it again).
    public func holds(_ revocation: SignedRevocation) -> Bool {
        revocations.contains { $0.device == revocation.device && $0.caKeyID == revocation.caKeyID }
    }
}

/// `revocations.json` in the data directory.
public typealias RevocationFile = LockedJSONFile<RevocationList>

extension LockedJSONFile where Content == RevocationList {
    public init(directory: URL) {
        self.init(path: directory.appendingPathComponent("revocations.json").path, empty: { RevocationList() })
    }
}
