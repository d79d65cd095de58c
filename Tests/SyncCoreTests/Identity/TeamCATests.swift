import Foundation
import NIOSSL
import Testing
import TestSupport
@testable import SyncCore

@Suite("Team CA", .timeLimit(.minutes(3)))
struct TeamCATests {
    let root = TemporaryDirectory("team-ca")

    func device(_ name: String) throws -> URL {
        let directory = root.url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        _ = try DeviceIdentity.loadOrCreate(in: directory, deviceName: name)
        return directory
    }

    func leafDER(_ directory: URL) throws -> [UInt8] {
        try NIOSSLCertificate.fromPEMFile(directory.appendingPathComponent(DeviceIdentity.certificateFile).path)[0].toDERBytes()
    }

    @Test func onlyCertificatesTheCASignedPass() throws {
        let caDirectory = root.url.appendingPathComponent("ca"), otherDirectory = root.url.appendingPathComponent("other")
        let ca = try TeamCA(path: TeamCA.create(in: caDirectory, name: "team").path)
        _ = try TeamCA.create(in: otherDirectory, name: "team")  // same name, different key

        let member = try device("member"), selfSigned = try device("self"), outsider = try device("outsider")
        let before = try DeviceIdentity.existingDeviceID(in: member)
        let signedID = try TeamCA.sign(deviceDirectory: member, caDirectory: caDirectory, deviceName: "member")
        _ = try TeamCA.sign(deviceDirectory: outsider, caDirectory: otherDirectory, deviceName: "outsider")

        #expect(signedID == before, "signing must keep the device ID")
        #expect(try DeviceIdentity.loadOrCreate(in: member, deviceName: "member").identity.deviceID == before)
        #expect(ca.signed(try leafDER(member)))
        #expect(!ca.signed(try leafDER(selfSigned)))
        #expect(!ca.signed(try leafDER(outsider)))
        #expect(!ca.signed(try leafDER(member), now: Date().addingTimeInterval(10 * 365 * 86_400)), "expired")
        #expect(!ca.signed([0x30, 0x03, 1, 2, 3]))
    }

    @Test func aDeviceCertificateIsNotACA() throws {
        let member = try device("leaf")
        #expect(throws: TeamCAError.self) { try TeamCA(path: member.appendingPathComponent(DeviceIdentity.certificateFile).path) }
        #expect(throws: TeamCAError.self) { try TeamCA(path: root.path("missing.pem")) }
        _ = try TeamCA.create(in: root.url.appendingPathComponent("ca"), name: "x")
        #expect(throws: TeamCAError.self) { try TeamCA.create(in: root.url.appendingPathComponent("ca"), name: "x") }
    }
}
