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
    }

    /// Reads the file (a missing or unreadable one is an empty book).
    public init(file: LearnedAddressFile, now: Date = Date()) {
        self.file = file
        state = Mutex(State(book: file.load(), lastSaved: now))
    }

    public func receive(_ announcement: Announcement, from source: AnnouncementSource, own: DeviceID,
                        peers: Set<DeviceID>, now: Date) -> AddressBook.Outcome {
        state.withLock { state in
            let outcome = state.book.receive(announcement, from: source, own: own, peers: peers, now: now)
            switch outcome {
            case .learned, .refreshed:
                if outcome.changesList {
                    state.changed = true
                    state.versions[announcement.device, default: 0] += 1
                } else {
                    state.refreshed = true
                }
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

    /// Changes when `device`'s learned addresses change.
    public func version(of device: DeviceID) -> Int { state.withLock { $0.versions[device, default: 0] } }

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
            guard state.changed || (state.refreshed && now.timeIntervalSince(state.lastSaved) >= Self.refreshSaveInterval) else { return nil }
            state.changed = false
            state.refreshed = false
            state.lastSaved = now
            return state.book
        }
    }

    /// Writes `book` to the file (blocking: call it off the event loops).
    public func write(_ book: AddressBook) throws {
        try file.update { $0 = book }
    }
}
