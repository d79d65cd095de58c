import Crypto
import Foundation
import Testing
@testable import SyncCore
import SyncSimulation

/// The invitation code: round trip, damage caught, hostile text bounded.
@Suite("Invitation codes")
struct InvitationCodeTests {
    static let inviter = DeviceID(spki: Array("inviter".utf8))

    static func code(addresses: [HostPort] = [HostPort(host: "192.0.2.10", port: 22_870), HostPort(host: "2001:db8::1", port: 22_871)],
                     mode: PeerMode = .receiveOnly) -> InvitationCode {
        InvitationCode(inviter: inviter, inviterName: "ana's desk ✓", addresses: addresses, invitationID: Array(1...8), secret: Array(100..<116),
                       mode: mode, expires: Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test func roundTripsEveryField() throws {
        for mode in PeerMode.allCases {
            let code = Self.code(mode: mode)
            let text = code.text
            let body = text.dropFirst(InvitationCode.prefix.count)
            #expect(text.hasPrefix(InvitationCode.prefix) && !body.contains("=") && !body.contains("+") && !body.contains("/"))
            #expect(try InvitationCode(parsing: text) == code)
            // A paste wrapped over lines reads the same.
            let wrapped = text.enumerated().map { $0.offset % 40 == 39 ? "\($0.element)\n  " : String($0.element) }.joined()
            #expect(try InvitationCode(parsing: "  " + wrapped + "\n") == code)
        }
        #expect(Self.code(mode: .sendOnly).joinerMode == .receiveOnly)
        #expect(Self.code(mode: .receiveOnly).joinerMode == .sendOnly)
        #expect(Self.code(mode: .sendReceive).joinerMode == .sendReceive)
    }

    @Test func aDamagedCodeIsRefusedBeforeItIsUsed() {
        let text = Self.code().text
        var characters = Array(text)
        for index in [InvitationCode.prefix.count + 3, characters.count / 2, characters.count - 1] {
            var damaged = characters
            damaged[index] = damaged[index] == "A" ? "B" : "A"
            #expect(throws: InvitationCodeError.self) { try InvitationCode(parsing: String(damaged)) }
        }
        characters.removeLast(6)
        #expect(throws: InvitationCodeError.self) { try InvitationCode(parsing: String(characters)) }
        #expect(throws: InvitationCodeError.self) { try InvitationCode(parsing: "https://example.com/join") }
        #expect(throws: InvitationCodeError.self) { try InvitationCode(parsing: InvitationCode.prefix + String(repeating: "A", count: 3_000)) }
    }

    @Test func longNamesAndManyAddressesAreCut() throws {
        var code = Self.code(addresses: (0..<20).map { HostPort(host: "10.0.0.\($0)", port: 1_000) })
        code.inviterName = String(repeating: "é", count: 100)
        let read = try InvitationCode(parsing: code.text)
        #expect(read.addresses.count == InvitationCode.maxAddresses)
        #expect(read.inviterName.utf8.count <= InvitationCode.maxNameBytes)
    }

    /// Random payloads with a valid checksum: decoding never crashes and
    /// never accepts what breaks a limit.
    @Test func randomPayloadsAreDecodedOrRefused() throws {
        var generator = SeededRandom(seed: 7)
        var accepted = 0
        for _ in 0..<5_000 {
            let count = Int(generator.next() % 200)
            var payload = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if !payload.isEmpty, generator.next() % 2 == 0 { payload[0] = 1 }
            let text = InvitationCode.prefix + Self.base64url(payload + Array(SHA256Prefix.of(payload)))
            if let code = try? InvitationCode(parsing: text) {
                accepted += 1
                #expect(code.addresses.count <= InvitationCode.maxAddresses && code.inviterName.utf8.count <= InvitationCode.maxNameBytes)
            }
        }
        #expect(accepted < 5_000)
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

enum SHA256Prefix {
    static func of(_ bytes: [UInt8]) -> [UInt8] { Array(Array(SHA256.hash(data: bytes)).prefix(4)) }
}

