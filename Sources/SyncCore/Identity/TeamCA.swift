import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// An optional team certificate authority (replication-model §6): a peer whose device
/// certificate is signed by it is accepted without being listed in `peers`.
///
/// The CA only vouches for membership; device IDs stay the hash of each
/// device's own key, so re-signing a device keeps its ID.
public struct TeamCA: Sendable {
    public let certificate: Certificate
    public let path: String

    public static let keyFile = "ca-key.pem"
    public static let certificateFile = "ca-cert.pem"

    /// Loads the CA certificate at `path`; errors say what is wrong with it.
    public init(path: String) throws {
        self.path = path
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw TeamCAError("cannot read the team CA certificate \(path): \(error.localizedDescription)")
        }
        do { certificate = try Certificate(pemEncoded: text) } catch {
            throw TeamCAError("\(path) is not a PEM certificate: \(error)")
        }
        guard case .isCertificateAuthority = (try? certificate.extensions.basicConstraints) ?? .notCertificateAuthority else {
            throw TeamCAError("\(path) is not a CA certificate (basic constraints say it cannot sign others); `syncctl ca create` makes one")
        }
        keyID = SignedRevocation.keyID(of: certificate.publicKey)
    }

    /// The key id revocations name (`SignedRevocation.caKeyID`).
    public let keyID: [UInt8]

    /// Whether `leaf` (DER) was issued and signed by this CA and is valid now.
    public func signed(_ leafDER: [UInt8], now: Date = Date()) -> Bool {
        guard let leaf = try? Certificate(derEncoded: leafDER) else { return false }
        guard leaf.issuer == certificate.subject, leaf.notValidBefore <= now, now <= leaf.notValidAfter else { return false }
        return certificate.publicKey.isValidSignature(leaf.signature, for: leaf)
    }

    /// Creates a CA key (mode 0600) and certificate in `directory`.
    public static func create(in directory: URL, name: String) throws -> URL {
        let keyURL = directory.appendingPathComponent(keyFile)
        let certURL = directory.appendingPathComponent(certificateFile)
        guard !FileManager.default.fileExists(atPath: keyURL.path) else {
            throw TeamCAError("\(keyURL.path) already exists; a team has one CA. Use it, or move it aside to start over")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(20 * 365 * 86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                KeyUsage(keyCertSign: true)
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
        try PEMFile.write(key.pemRepresentation, to: keyURL, mode: 0o600)
        try PEMFile.write(try certificate.serializeAsPEM().pemString, to: certURL, mode: 0o644)
        return certURL
    }

    /// The CA's private key in `caDirectory`.
    public static func loadKey(in caDirectory: URL) throws -> P256.Signing.PrivateKey {
        let caKeyURL = caDirectory.appendingPathComponent(keyFile)
        do { return try P256.Signing.PrivateKey(pemRepresentation: String(contentsOf: caKeyURL, encoding: .utf8)) } catch {
            throw TeamCAError("cannot read the CA key \(caKeyURL.path): \(error)")
        }
    }

    /// Re-issues the device certificate in `deviceDirectory` signed by the CA
    /// in `caDirectory`, for the same key (so the device ID does not change).
    public static func sign(deviceDirectory: URL, caDirectory: URL, deviceName: String) throws -> DeviceID {
        let ca = try TeamCA(path: caDirectory.appendingPathComponent(certificateFile).path)
        let caKey = try loadKey(in: caDirectory)
        let deviceKeyURL = deviceDirectory.appendingPathComponent(DeviceIdentity.keyFile)
        let deviceKey: P256.Signing.PrivateKey
        do { deviceKey = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOf: deviceKeyURL, encoding: .utf8)) } catch {
            throw TeamCAError("no device key at \(deviceKeyURL.path): start syncd once to create it (\(error))")
        }
        let certificate = try DeviceIdentity.deviceCertificate(
            for: deviceKey.publicKey, subject: try DistinguishedName { CommonName(deviceName.isEmpty ? "syncd" : deviceName) },
            issuer: ca.certificate.subject, issuerKey: caKey, years: 5)
        let certURL = deviceDirectory.appendingPathComponent(DeviceIdentity.certificateFile)
        let pem = try certificate.serializeAsPEM().pemString
        try PEMFile.write(pem, to: certURL, mode: 0o644)
        return try DeviceIdentity.deviceID(of: NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem))
    }
}

public struct TeamCAError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Writes key and certificate files with the right mode from the start.
enum PEMFile {
    static func write(_ text: String, to url: URL, mode: Int) throws {
        do { try AtomicFile.write(Data(text.utf8), to: url.path, mode: mode_t(mode)) } catch { throw TeamCAError("\(error)") }
    }
}
