import Crypto
import Foundation

/// The one line `syncctl invite` prints and `syncctl join` reads
/// (docs/operations.md "Invitations"; replication-model §6.2):
/// `syncd://join/` and base64url of the inviter's device ID and name, where
/// to dial it, the invitation's public id and its one-time secret, the mode
/// the inviter grants, when it expires, and a 4-byte checksum that catches a
/// damaged paste.
///
/// The code is a credential until it is used or expires: whoever holds it
/// can join once. The inviter keeps only the secret's hash. Pure: no I/O;
/// decoding is bounded (the code may come from anywhere).
public struct InvitationCode: Equatable, Sendable {
    public var inviter: DeviceID
    public var inviterName: String
    public var addresses: [HostPort]
    /// Public: names the invitation in the inviter's book and in logs.
    public var invitationID: [UInt8]
    /// Private: proven over the TLS session that pins `inviter`.
    public var secret: [UInt8]
    /// The mode the inviter gives the joiner (the joiner takes the mirror of it).
    public var mode: PeerMode
    public var expires: Date

    public static let prefix = "syncd://join/"
    public static let idBytes = 8
    public static let secretBytes = 16
    /// Longest code read; longer text is refused before it is decoded.
    public static let maxCodeCharacters = 2_048
    public static let maxAddresses = 8
    public static let maxNameBytes = 64
    static let version: UInt8 = 1

    public init(inviter: DeviceID, inviterName: String, addresses: [HostPort], invitationID: [UInt8], secret: [UInt8], mode: PeerMode, expires: Date) {
        self.inviter = inviter
        self.inviterName = inviterName
        self.addresses = addresses
        self.invitationID = invitationID
        self.secret = secret
        self.mode = mode
        self.expires = expires
    }

    /// The printed code.
    public var text: String {
        var writer = BinaryWriter(capacity: 128)
        writer.writeByte(Self.version)
        writer.writeRaw(inviter.bytes)
        writer.writeRaw(invitationID)
        writer.writeRaw(secret)
        writer.writeByte(Self.modeByte(mode))
        writer.writeVarint(UInt64(max(0, expires.timeIntervalSince1970.rounded(.down))))
        writer.writeString(Self.cut(inviterName))
        let addresses = self.addresses.prefix(Self.maxAddresses)
        writer.writeVarint(UInt64(addresses.count))
        for address in addresses { writer.writeString(address.description) }
        var bytes = writer.bytes
        bytes += Array(SHA256.hash(data: bytes)).prefix(4)
        return Self.prefix + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Reads a code; whitespace (a wrapped paste) is ignored. Errors say what is wrong.
    public init(parsing raw: String) throws(InvitationCodeError) {
        guard raw.utf8.count <= Self.maxCodeCharacters else { throw .init("the code is longer than \(Self.maxCodeCharacters) characters: not an invitation") }
        let text = String(raw.unicodeScalars.filter { !$0.properties.isWhitespace })
        guard text.hasPrefix(Self.prefix) else { throw .init("an invitation starts with \(Self.prefix) (`syncctl invite` prints one)") }
        var body = String(text.dropFirst(Self.prefix.count)).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while body.count % 4 != 0 { body += "=" }
        guard let data = Data(base64Encoded: body), data.count > 4 else { throw .init("the code is damaged (not base64url): copy it again") }
        let bytes = Array(data)
        let payload = Array(bytes.dropLast(4))
        guard Array(SHA256.hash(data: payload)).prefix(4).elementsEqual(bytes.suffix(4)) else {
            throw .init("the code is damaged (its checksum does not match): copy it again, whole")
        }
        var reader = BinaryReader(payload)
        do {
            let version = try reader.readByte()
            guard version == Self.version else { throw InvitationCodeError("invitation format \(version) is newer than this syncctl understands: update it") }
            inviter = DeviceID(hash: Array(try reader.readRaw(count: 32)))
            invitationID = Array(try reader.readRaw(count: Self.idBytes))
            secret = Array(try reader.readRaw(count: Self.secretBytes))
            guard let mode = Self.mode(try reader.readByte()) else { throw InvitationCodeError("the code names an unknown mode") }
            self.mode = mode
            let seconds = try reader.readVarint()
            guard seconds < 1 << 40 else { throw InvitationCodeError("the code's expiry is out of range") }
            expires = Date(timeIntervalSince1970: TimeInterval(seconds))
            let name = try reader.readString()
            guard name.utf8.count <= Self.maxNameBytes else { throw InvitationCodeError("the inviter's name is longer than \(Self.maxNameBytes) bytes") }
            inviterName = PendingDeviceList.clean(name, limit: Self.maxNameBytes)
            let count = try reader.readVarint()
            guard count <= UInt64(Self.maxAddresses) else { throw InvitationCodeError("the code lists \(count) addresses (at most \(Self.maxAddresses))") }
            addresses = try (0..<count).map { _ in
                let text = try reader.readString()
                guard text.utf8.count <= 300, let address = HostPort(text) else { throw InvitationCodeError("the code holds an address that is not HOST:PORT") }
                return address
            }
        } catch let error as InvitationCodeError {
            throw error
        } catch {
            throw .init("the code is damaged (\(error)): copy it again")
        }
    }

    /// The mode the joiner gives the inviter: the mirror of the granted one.
    public var joinerMode: PeerMode {
        switch mode {
        case .sendReceive: .sendReceive
        case .sendOnly: .receiveOnly
        case .receiveOnly: .sendOnly
        }
    }

    static func cut(_ name: String) -> String { UTF8Identity.fitting(name, maxBytes: maxNameBytes) }

    static func modeByte(_ mode: PeerMode) -> UInt8 {
        switch mode {
        case .sendReceive: 0
        case .sendOnly: 1
        case .receiveOnly: 2
        }
    }

    static func mode(_ byte: UInt8) -> PeerMode? {
        switch byte {
        case 0: .sendReceive
        case 1: .sendOnly
        case 2: .receiveOnly
        default: nil
        }
    }
}

public struct InvitationCodeError: Error, CustomStringConvertible, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
