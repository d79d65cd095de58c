/// The commented config file `syncd` writes on first start.
public enum ConfigTemplate {
    /// `discovery` is `.lan` only for `syncctl init --discovery`.
    public static func text(deviceName: String, author: String, listen: HostPort, discovery: DaemonConfig.Discovery = .off) -> String {
        """
        # syncd configuration (YAML). Every key is optional; defaults are shown.
        # Environment variables override this file: SYNCD_LISTEN, SYNCD_AUTHOR,
        # SYNCD_DEVICE_NAME, SYNCD_METRICS. Flags override both.

        # Address for peers to connect to (mutual TLS 1.3).
        listen: \(listen)

        # Your name, stored on every version you write.
        author: \(yamlString(author))

        # This machine's name, shown to peers.
        device_name: \(yamlString(deviceName))

        # Peers this daemon syncs with. Only these devices may connect; everyone
        # else is refused during the TLS handshake. Get a peer's device ID with
        # `syncctl id` on its machine.
        #   mode: send-receive (default) | send-only (we only send to it)
        #                                | receive-only (we only take from it)
        #   address: where to dial it; leave it out if it dials us.
        peers: []
        # peers:
        #   - name: bob-laptop
        #     device_id: AAAA-BBBB-...
        #     address: 192.0.2.10:\(DaemonConfig.defaultPort)
        #     mode: send-receive

        # Optional team CA certificate (path, relative to this file or absolute).
        # A device whose certificate it signed may connect without being listed
        # above (`syncctl ca create` / `syncctl ca sign`). Off when empty.
        team_ca: ""

        # Slot states per sync batch, and bytes per batch.
        batch:
          max_slots: 2000
          max_bytes: 1048576

        # Joining by snapshot: a daemon at least min_behind_seqs behind a peer
        # (a new one, or one long offline, holding at most a quarter as much of
        # its own) asks it for a checked copy of its database instead of pulling
        # every change (0: never). A bigger snapshot than max_snapshot_bytes is
        # refused and pulled instead; served_per_hour bounds the copies this
        # daemon makes for joining peers (docs/operations.md, "Joining by snapshot").
        join:
          min_behind_seqs: 50000
          max_snapshot_bytes: 68719476736
          served_per_hour: 10

        # Largest frame accepted from a peer; a bigger one closes that connection.
        max_frame_bytes: 16777216

        # Reconnect backoff (exponential, with jitter).
        reconnect:
          initial_ms: 500
          max_ms: 30000

        # Keepalive pings, and how long a connection may stay silent (or stall
        # in the middle of a frame) before it is closed.
        keepalive_seconds: 10
        idle_timeout_seconds: 30
        # How long one frame may take to arrive whole; a peer trickling a
        # frame byte by byte is disconnected.
        frame_timeout_seconds: 120

        # How often caught-up peers compare digests.
        digest_interval_seconds: 60

        # How often to look for writes made by syncctl (milliseconds).
        local_poll_ms: 200

        # Versions dated further ahead than this are stored but reported.
        max_clock_drift_seconds: 600

        # Prometheus metrics, e.g. 127.0.0.1:9187 (off when empty).
        metrics: ""

        # The web app (`syncctl ui` prints its login link). Loopback only unless
        # a password is set with `syncctl ui password`; then it is served over
        # HTTPS with the device certificate. Off when empty.
        ui: 127.0.0.1:22880

        # LAN discovery: off | lan. With lan, this daemon announces its device ID
        # and listen port on the local network (UDP broadcast and IPv6 multicast
        # to discovery_port, every discovery_interval_seconds) and learns the
        # address of listed peers from their announcements, so a peer needs no
        # address above. Announcements carry no data; a peer is still trusted
        # only by its device ID in the TLS handshake. Learned addresses are kept
        # in learned-addresses.json and tried first next time.
        discovery: \(discovery == .off ? "\"off\"" : discovery.rawValue)
        discovery_port: \(DaemonConfig.defaultDiscoveryPort)
        discovery_interval_seconds: 30

        # Scheduled snapshots (off unless interval_minutes is set).
        snapshots:
          # interval_minutes: 1440
          retain: 7
          # directory: /path/to/snapshots
        """
    }

    /// Refuses a name the config file cannot keep as given: one that starts
    /// with U+FEFF (`yamlString` writes it, Yams drops it on reading, so the
    /// author would be replicated without it) or holds NUL. `key` is the
    /// config key (`author`, `device_name`) named in the error.
    public static func checkKeepable(_ value: String, key: String, path: String) throws {
        if value.unicodeScalars.first == "\u{FEFF}" {
            throw ConfigError(path: path, key: key, message: "'\(value.unicodeScalars.dropFirst())' starts with U+FEFF (a byte-order mark), which the config file cannot keep: give it without that character")
        }
        if value.utf8.contains(0) {
            throw ConfigError(path: path, key: key, message: "the value contains a NUL character (U+0000): give it without that character")
        }
    }

    /// A double-quoted YAML string. Escaped by scalar (ScalarText): the text
    /// can come from a peer (an invitation's device name), and `"` followed
    /// by a combining mark is one `Character` that `replacingOccurrences`
    /// on Linux left unescaped, so the config then failed to parse.
    ///
    /// Scalars YAML does not allow as they stand, or reads as line breaks
    /// that a double-quoted string folds (C0 and C1 controls, DEL, U+2028,
    /// U+2029, U+FEFF, U+FFFE, U+FFFF), are written as `\xHH` or `\uHHHH`,
    /// so that any text reads back as the same scalars — but for one leading
    /// U+FEFF, which Yams drops when it reads the value (Foundation takes it
    /// for a byte-order mark). Names from peers never hold one
    /// (`PendingDeviceList.clean` drops format characters), and local ones
    /// with one are refused (`checkKeepable`).
    static func yamlString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x00...0x1F, 0x7F...0x9F:
                out += "\\x" + hex(scalar.value, digits: 2)
            case 0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF:
                out += "\\u" + hex(scalar.value, digits: 4)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
