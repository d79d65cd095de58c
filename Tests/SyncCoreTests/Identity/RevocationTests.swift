import Crypto
import Foundation
import Testing
import X509
@testable import SyncCore

/// Revocations: only the CA's signature over exactly these bytes makes one.
@Suite("Revocations")
struct RevocationTests {
    static func ca(_ name: String) throws -> (certificate: Certificate, key: P256.Signing.PrivateKey) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("revocation-ca-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = try TeamCA.create(in: directory, name: name).path
        return (try TeamCA(path: path).certificate, try TeamCA.loadKey(in: directory))
    }

    @Test func onlyTheCAsSignatureOverTheseBytesIsValid() throws {
        let (certificate, key) = try Self.ca("desk")
        let device = DeviceID(spki: Array("laptop".utf8))
        let revocation = try SignedRevocation.make(device: device, reason: "stolen\non a train " + String(repeating: "x", count: 500), at: Date(), caKey: key)
        #expect(revocation.check(against: certificate) == .valid)
        #expect(revocation.reason.utf8.count <= SignedRevocation.maxReasonBytes && !revocation.reason.contains("\n"))
        var changed = revocation
        changed.reason = "lost"
        #expect(changed.check(against: certificate) == .badSignature)
        changed = revocation
        changed.device = DeviceID(spki: Array("another".utf8))
        #expect(changed.check(against: certificate) == .badSignature)
        changed = revocation
        changed.revokedAt = revocation.revokedAt.addingTimeInterval(1)
        #expect(changed.check(against: certificate) == .badSignature)
        changed = revocation
        changed.signature = Array(changed.signature.dropLast())
        #expect(changed.check(against: certificate) == .badSignature)
        let other = try Self.ca("someone else")
        #expect(revocation.check(against: other.certificate) == .otherCA)
        // Its key id cannot be swapped for the other CA's either.
        changed = revocation
        changed.caKeyID = SignedRevocation.keyID(of: other.certificate.publicKey)
        #expect(changed.check(against: other.certificate) == .badSignature)
    }

    @Test func theListKeepsOnePerDeviceAndCAAndSurvivesJSON() throws {
        let (desk, key) = try Self.ca("desk")
        var list = RevocationList()
        let first = try SignedRevocation.make(device: DeviceID(spki: [1]), reason: "a", at: Date(), caKey: key)
        let added = list.add(first)
        let again = list.add(try SignedRevocation.make(device: DeviceID(spki: [1]), reason: "again", at: Date(), caKey: key))
        #expect(added == .added && again == .held)
        let deskID = SignedRevocation.keyID(of: desk.publicKey)
        #expect(list.revokes(DeviceID(spki: [1]), underCA: deskID) && !list.revokes(DeviceID(spki: [2]), underCA: deskID))
        // A list from another team's CA (or kept after team_ca changed), or no CA at all: it revokes nothing.
        let otherID = SignedRevocation.keyID(of: try Self.ca("someone else").certificate.publicKey)
        #expect(!list.revokes(DeviceID(spki: [1]), underCA: otherID) && !list.revokes(DeviceID(spki: [1]), underCA: nil))
        #expect(list.signed(by: deskID).count == 1 && list.signed(by: otherID).isEmpty)
        var full = RevocationList()
        for index in 0..<RevocationList.maxEntries { _ = full.add(try SignedRevocation.make(device: DeviceID(spki: [UInt8(index % 256), UInt8(index / 256)]), reason: "", at: Date(), caKey: key)) }
        let over = full.add(try SignedRevocation.make(device: DeviceID(spki: [9, 9, 9]), reason: "", at: Date(), caKey: key))
        #expect(over == .full && full.revocations.count == RevocationList.maxEntries)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let read = try decoder.decode(RevocationList.self, from: encoder.encode(list))
        #expect(read.revocations.count == 1 && read.revocations[0].sameBytes(as: first))
    }
}
