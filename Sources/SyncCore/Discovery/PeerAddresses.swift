import Foundation
import Synchronization

/// The daemon's `AddressBook`, shared by LAN discovery (which writes it),
/// the dialers and `syncctl status` (which read it), and its file.
///
/// The file is written when the list of a peer changes (an address learned,
/// replaced or back on top, a first connection through one) and otherwise at
/// most every `refreshSaveInterval`: an address heard again every interval
/// only moves its time. The discovery driver does the writing, one at a time.
public final class PeerAddresses: Sendable {
    public let file: LearnedAddressFile
    private let state: Mutex<State>

    /// How often a book whose only change is newer times is written.
    public static let refreshSaveInterval: TimeInterval = 600

    private struct State {
        var book: AddressBook
        /// Per peer, bumped when its candidates change: a dialer waiting out
        /// its backoff wakes up for a new address.
        var versions: [DeviceID: Int] = [:]
        var changed = false
        var refreshed = false
        var lastSaved: Date
        var active = false
    }

    /// Reads the file (a missing or unreadable one is an empty book).
    public init(file: LearnedAddressFile, now: Date = Date()) {
        self.file = file
        state = Mutex(State(book: file.load(), lastSaved: .distantPast))
    }

    public func receive(_ announcement: Announcement, from source: AnnouncementSource, own: DeviceID,
                        peers: Set<DeviceID>, now: Date) -> AddressBook.Outcome {
        state.withLock { state in
            let outcome = state.book.receive(announcement, from: source, own: own, peers: peers, now: now)
            switch outcome {
            case .learned, .refreshed:
                if outcome.changesList { state.changed = true } else { state.refreshed = true }
                // Only a new address wakes a dialer; a known one heard again
                // (a forger alternating two) does not.
                if case .learned = outcome { state.versions[announcement.device, default: 0] += 1 }
            case .own, .notAPeer, .unusableSource: break
            }
            return outcome
        }
    }

    /// Notes a TLS session opened with `device` through `address`.
    public func connected(_ device: DeviceID, via address: HostPort, now: Date) {
        state.withLock { state in
            let first = state.book.learned[device]?.first { $0.address == address }?.lastConnected == nil
            if state.book.connected(device, via: address, now: now) {
                if first { state.changed = true } else { state.refreshed = true }
            }
        }
    }

    public func candidates(for device: DeviceID, configured: HostPort?, now: Date) -> [HostPort] {
        state.withLock { $0.book.candidates(for: device, configured: configured, now: now) }
    }

    /// Changes when a new address is learned for `device`.
    public func version(of device: DeviceID) -> Int { state.withLock { $0.versions[device, default: 0] } }

    /// The address learned last for `device` (the one a woken dialer tries).
    public func newest(for device: DeviceID) -> HostPort? {
        state.withLock { $0.book.learned[device]?.max { $0.firstSeen < $1.firstSeen }?.address }
    }

    /// Whether LAN discovery runs in this daemon (learned addresses are dialed only then).
    public var active: Bool {
        get { state.withLock { $0.active } }
        set { state.withLock { $0.active = newValue } }
    }

    /// A list change is written at most this often (a flood of forged
    /// announcements must not turn into a flood of fsyncs).
    public static let changeSaveInterval: TimeInterval = 5

    public var book: AddressBook { state.withLock { $0.book } }

    /// Drops what is no longer wanted (peers removed from the config, old addresses).
    public func prune(keeping peers: Set<DeviceID>, now: Date) {
        state.withLock { state in
            let before = state.book
            state.book.prune(keeping: peers, now: now)
            if state.book != before { state.changed = true }
        }
    }

    /// The book to write now, if a write is due; the caller writes it.
    public func takeSave(now: Date) -> AddressBook? {
        state.withLock { state in
            let since = now.timeIntervalSince(state.lastSaved)
            guard (state.changed && since >= Self.changeSaveInterval) || (state.refreshed && since >= Self.refreshSaveInterval) else { return nil }
            state.changed = false
            state.refreshed = false
            state.lastSaved = now
            return state.book
        }
    }

    /// Writes `book` to the file (blocking: call it off the event loops).
    /// The file is a cache: a damaged one is written over, not kept.
    public func write(_ book: AddressBook) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(book)
        try AtomicFile.locked(file.path) { try AtomicFile.write(data, to: file.path, mode: 0o644) }
    }
}
