import _CryptoExtras
import Crypto
import Foundation
import SyncCore

/// The web app's stored secrets, in the data directory, mode 0600:
/// `ui-api-key` (for scripts) and `ui-password` (a PBKDF2 hash, needed when
/// the app is served on a non-loopback address).
public struct UICredentials: Sendable {
    public let directory: DataDirectory

    public init(directory: DataDirectory) { self.directory = directory }

    public var apiKeyPath: String { directory.url.appendingPathComponent("ui-api-key").path }
    public var passwordPath: String { directory.url.appendingPathComponent("ui-password").path }

    /// The API key, created on first use.
    public func apiKey() throws -> String {
        if let text = try? String(contentsOfFile: apiKeyPath, encoding: .utf8) {
            let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if key.utf8.count >= 32 { return key }
        }
        let key = "sk_" + LockedSessionBook.randomToken()
        try Self.writeSecret(key + "\n", to: apiKeyPath)
        return key
    }

    /// Replaces the API key (the old one stops working when the daemon next reads it).
    public func rotateAPIKey() throws -> String {
        try? FileManager.default.removeItem(atPath: apiKeyPath)
        return try apiKey()
    }

    public var sessionKeyPath: String { directory.url.appendingPathComponent("ui-session-key").path }

    /// The key that signs session cookies, created on first use; deleting
    /// the file logs every browser out at the next start.
    public func sessionKey() throws -> SymmetricKey {
        if let text = try? String(contentsOfFile: sessionKeyPath, encoding: .utf8),
           let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 {
            return SymmetricKey(data: bytes)
        }
        let key = SymmetricKey(size: .bits256)
        try Self.writeSecret(key.withUnsafeBytes { Data($0) }.base64EncodedString() + "\n", to: sessionKeyPath)
        return key
    }

    public var revokedPath: String { directory.url.appendingPathComponent("ui-revoked").path }

    /// A new signing key (every session cookie stops working).
    public func rotateSessionKey() throws -> SymmetricKey {
        try? FileManager.default.removeItem(atPath: sessionKeyPath)
        return try sessionKey()
    }

    public var hasPassword: Bool { (try? PasswordHash.parse(String(contentsOfFile: passwordPath, encoding: .utf8))) != nil }

    public func setPassword(_ password: String) throws {
        guard password.utf8.count >= PasswordHash.minLength else {
            throw UIError("the password must have at least \(PasswordHash.minLength) characters")
        }
        guard password.utf8.count <= PasswordHash.maxLength else {
            throw UIError("the password must have at most \(PasswordHash.maxLength) bytes")
        }
        try Self.writeSecret(try PasswordHash.make(password).encoded + "\n", to: passwordPath)
    }

    public func checkPassword(_ password: String) -> Bool {
        guard let text = try? String(contentsOfFile: passwordPath, encoding: .utf8), let stored = try? PasswordHash.parse(text) else { return false }
        return stored.matches(password)
    }

    /// Writes a secret file readable by its owner only (created 0600, then renamed).
    static func writeSecret(_ text: String, to path: String) throws {
        let temporary = path + ".tmp"
        unlink(temporary)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else { throw UIError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        fsync(descriptor)
        close(descriptor)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw UIError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// `pbkdf2-sha256$ROUNDS$SALT$HASH` (salt and hash in base64).
public struct PasswordHash: Sendable, Equatable {
    public let rounds: Int
    public let salt: [UInt8]
    public let hash: [UInt8]

    public static let defaultRounds = 600_000
    public static let minLength = 8
    /// The longest password accepted (a login form is client input).
    public static let maxLength = 1_024

    public static func make(_ password: String, rounds: Int = defaultRounds) throws -> PasswordHash {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return PasswordHash(rounds: rounds, salt: salt, hash: try derive(password, salt: salt, rounds: rounds))
    }

    static func derive(_ password: String, salt: [UInt8], rounds: Int) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32, unsafeUncheckedRounds: rounds)
        return key.withUnsafeBytes { Array($0) }
    }

    public var encoded: String { "pbkdf2-sha256$\(rounds)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())" }

    public static func parse(_ text: String) throws -> PasswordHash {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "$").map(String.init)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let rounds = Int(parts[1]), (1_000...10_000_000).contains(rounds),
              let salt = Data(base64Encoded: parts[2]), let hash = Data(base64Encoded: parts[3]), hash.count == 32 else {
            throw UIError("the stored password is not in the expected form; set it again with `syncctl ui password`")
        }
        return PasswordHash(rounds: rounds, salt: [UInt8](salt), hash: [UInt8](hash))
    }

    public func matches(_ password: String) -> Bool {
        guard password.utf8.count <= Self.maxLength, let derived = try? Self.derive(password, salt: salt, rounds: rounds) else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(derived, hash) { difference |= a ^ b }
        return difference == 0 && derived.count == hash.count
    }
}

public struct UIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
