import Foundation
import Logging
import X509

/// Records devices that dial without being configured peers (`PendingDeviceFile`),
/// bounded in writes: a device at most once a minute, all devices at most
/// `maxWritesPerMinute` times a minute (a stranger may present many keys).
final class PendingRecorder: @unchecked Sendable {
    let file: PendingDeviceFile
    let logger: Logger
    private let lock = NSLock()
    private var lastWrite: [DeviceID: Date] = [:]
    private var window = (start: Date.distantPast, count: 0)

    static let perDeviceInterval: TimeInterval = 60
    static let maxWritesPerMinute = 30

    init(file: PendingDeviceFile, logger: Logger) {
        self.file = file
        self.logger = logger
    }

    /// Notes an attempt; the name is `name`, else the certificate's common name.
    func note(_ device: DeviceID, leafDER: [UInt8]?, name given: String? = nil, address: String, now: Date = Date()) {
        let admitted: Bool = lock.withLock {
            if let last = lastWrite[device], now.timeIntervalSince(last) < Self.perDeviceInterval { return false }
            if now.timeIntervalSince(window.start) >= 60 { window = (now, 0) }
            guard window.count < Self.maxWritesPerMinute else { return false }
            window.count += 1
            lastWrite[device] = now
            if lastWrite.count > 1_000 { lastWrite = lastWrite.filter { now.timeIntervalSince($0.value) < Self.perDeviceInterval } }
            return true
        }
        guard admitted else { return }
        let name = given ?? leafDER.flatMap(Self.commonName) ?? ""
        let file = self.file, logger = self.logger
        Task.detached {
            do {
                let isNew = try await Blocking.run {
                    try file.update { list in
                        let known = list.devices.contains { $0.deviceID == device.description }
                        list.record(device, name: name, address: address, at: now)
                        return !known
                    }
                }
                if isNew {
                    logger.notice("a device that is not a peer asked to connect; `syncctl peers pending` lists it, `syncctl peers accept` makes it a peer", metadata: [
                        "device": "\(device)", "name": "\(PendingDeviceList.clean(name, limit: PendingDeviceList.maxNameCharacters))", "remote": "\(address)"])
                }
            } catch {
                logger.warning("cannot record a pending device", metadata: ["device": "\(device)", "error": "\(error)"])
            }
        }
    }

    /// The common name of a certificate's subject (what its owner named the device).
    static func commonName(_ der: [UInt8]) -> String? {
        guard let certificate = try? Certificate(derEncoded: der) else { return nil }
        for rdn in certificate.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                if let name = String(attribute.value) { return name }
            }
        }
        return nil
    }
}
