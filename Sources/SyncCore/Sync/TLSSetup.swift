import Foundation
import Logging
import NIOCore
import NIOSSL

/// TLS 1.3 with mutual authentication, pinned by device ID (replication-model §5, §6).
///
/// Certificates are self-signed, so BoringSSL's chain verification is replaced
/// by a callback that accepts a peer only if the SHA-256 of its public key is a
/// configured device ID. A refused peer fails the handshake and sees no data.
public struct TLSSetup: Sendable {
    public let serverContext: NIOSSLContext
    public let clientContext: NIOSSLContext

    public init(identity: DeviceIdentity) throws {
        var server = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(identity.certificate)],
                                                              privateKey: .privateKey(identity.privateKey))
        server.minimumTLSVersion = .tlsv13
        server.certificateVerification = .noHostnameVerification  // requires a client certificate
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = [.certificate(identity.certificate)]
        client.privateKey = .privateKey(identity.privateKey)
        client.minimumTLSVersion = .tlsv13
        client.certificateVerification = .noHostnameVerification
        serverContext = try NIOSSLContext(configuration: server)
        clientContext = try NIOSSLContext(configuration: client)
    }

    /// A handshake failure in plain words, and whether our verification
    /// callback already reported it.
    public static func explain(handshakeFailure error: Error) -> (reason: String, alreadyReported: Bool)? {
        guard case NIOSSLError.handshakeFailed(let inner) = error else { return nil }
        let text = "\(inner)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") { return ("certificate refused", true) }
        if text.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE") { return ("no client certificate presented", false) }
        if text.contains("UNSUPPORTED_PROTOCOL") || text.contains("VERSION") { return ("the client does not speak TLS 1.3", false) }
        if text.contains("WRONG_VERSION_NUMBER") || text.contains("HTTP_REQUEST") { return ("not a TLS client", false) }
        return ("TLS handshake failed: \(text.prefix(160))", false)
    }

    /// How a presented certificate was admitted.
    public enum Admission: Sendable {
        /// Its device ID is in the config's peer list.
        case configured
        /// It is signed by the configured team CA (replication-model §6).
        case teamCA
        /// Unknown, let in only to claim an open invitation (replication-model §6.2).
        case invitation
        case refused(String)
    }

    /// A verification callback that pins the peer's device ID.
    ///
    /// - Parameters:
    ///   - admit: asked with the presented device ID and leaf certificate.
    ///   - onRefuse: told about every refusal (for logs and counters).
    public static func verifier(context: ConnectionContext, admit: @escaping @Sendable (DeviceID, NIOSSLCertificate) -> Admission,
                                onRefuse: @escaping @Sendable (String) -> Void) -> NIOSSLCustomVerificationCallback {
        { certificates, promise in
            guard let leaf = certificates.first else {
                onRefuse("no certificate presented")
                promise.succeed(.failed)
                return
            }
            do {
                let device = try DeviceIdentity.deviceID(of: leaf)
                switch admit(device, leaf) {
                case .refused(let reason):
                    onRefuse(reason)
                    promise.succeed(.failed)
                case .configured:
                    context.device = device
                    promise.succeed(.certificateVerified)
                case .teamCA:
                    context.device = device
                    context.viaTeamCA = true
                    promise.succeed(.certificateVerified)
                case .invitation:
                    context.device = device
                    context.viaInvitation = true
                    context.certificateName = (try? leaf.toDERBytes()).flatMap(PendingRecorder.commonName)
                    promise.succeed(.certificateVerified)
                }
            } catch {
                onRefuse("unreadable certificate: \(error)")
                promise.succeed(.failed)
            }
        }
    }
}
