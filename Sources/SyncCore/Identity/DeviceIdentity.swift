import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// This daemon's TLS identity: a P-256 key and a self-signed certificate in
/// the data directory (`device-key.pem`, mode 0600, and `device-cert.pem`).
public struct DeviceIdentity: Sendable {
    public let certificate: NIOSSLCertificate
    public let privateKey: NIOSSLPrivateKey
    public let deviceID: DeviceID

    public static let keyFile = "device-key.pem"
    public static let certificateFile = "device-cert.pem"

    /// Loads the identity from `directory`, creating it on first use.
    public static func loadOrCreate(in directory: URL, deviceName: String) throws -> (identity: DeviceIdentity, created: Bool) {
        let keyURL = directory.appendingPathComponent(keyFile)
        let certURL = directory.appendingPathComponent(certificateFile)
        let manager = FileManager.default
        var created = false
        if !manager.fileExists(atPath: keyURL.path) || !manager.fileExists(atPath: certURL.path) {
            let (keyPEM, certPEM) = try generate(commonName: deviceName)
            try PEMFile.write(keyPEM, to: keyURL, mode: 0o600)
            try PEMFile.write(certPEM, to: certURL, mode: 0o644)
            created = true
        }
        let attributes = try manager.attributesOfItem(atPath: keyURL.path)
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw IdentityError.keyTooOpen(path: keyURL.path, mode: mode)
        }
        do {
            guard let certificate = try NIOSSLCertificate.fromPEMFile(certURL.path).first else {
                throw IdentityError.unreadable(path: certURL.path, reason: "no certificate in the file")
            }
            let key = try NIOSSLPrivateKey(file: keyURL.path, format: .pem)
            return (DeviceIdentity(certificate: certificate, privateKey: key, deviceID: try deviceID(of: certificate)), created)
        } catch let error as IdentityError {
            throw error
        } catch {
            throw IdentityError.unreadable(path: directory.path, reason: "\(error)")
        }
    }

    /// The device ID stored in `directory`, or nil when no identity exists yet.
    public static func existingDeviceID(in directory: URL) throws -> DeviceID? {
        let certURL = directory.appendingPathComponent(certificateFile)
        guard FileManager.default.fileExists(atPath: certURL.path) else { return nil }
        do {
            guard let certificate = try NIOSSLCertificate.fromPEMFile(certURL.path).first else { throw IdentityError.unreadable(path: certURL.path, reason: "no certificate in the file") }
            return try deviceID(of: certificate)
        } catch {
            throw IdentityError.unreadable(path: certURL.path, reason: "\(error)")
        }
    }

    /// The device ID a certificate stands for.
    public static func deviceID(of certificate: NIOSSLCertificate) throws -> DeviceID {
        DeviceID(spki: try certificate.extractPublicKey().toSPKIBytes())
    }

    /// A fresh P-256 key and a self-signed certificate valid for 20 years.
    static func generate(commonName: String) throws -> (keyPEM: String, certificatePEM: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName(commonName.isEmpty ? "syncd" : commonName) }
        let certificate = try deviceCertificate(for: key.publicKey, subject: name, issuer: name, issuerKey: key, years: 20)
        return (key.pemRepresentation, try certificate.serializeAsPEM().pemString)
    }

    /// A device (leaf) certificate for TLS client and server use.
    static func deviceCertificate(for publicKey: P256.Signing.PublicKey, subject: DistinguishedName, issuer: DistinguishedName,
                                  issuerKey: P256.Signing.PrivateKey, years: Double) throws -> Certificate {
        let now = Date()
        return try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(publicKey),
            notValidBefore: now.addingTimeInterval(-3_600),
            notValidAfter: now.addingTimeInterval(years * 365 * 86_400),
            issuer: issuer,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                KeyUsage(digitalSignature: true)
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
            },
            issuerPrivateKey: Certificate.PrivateKey(issuerKey))
    }
}

public enum IdentityError: Error, CustomStringConvertible {
    case keyTooOpen(path: String, mode: Int)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .keyTooOpen(let path, let mode):
            return "device key \(path) is readable by others (mode \(String(mode, radix: 8))): run `chmod 600 \(path)`."
        case .unreadable(let path, let reason):
            return "cannot load the device identity in \(path): \(reason). Move device-key.pem and device-cert.pem aside to create a new identity (peers will need the new device ID)."
        }
    }
}
