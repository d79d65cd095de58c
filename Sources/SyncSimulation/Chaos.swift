import Foundation
import GRDB
import SyncCore

/// The writes and faults a run draws from its seed, and the heal.
extension World {
    func chaosStep() {
        let roll = rng.int(0...99)
        switch roll {
        case 0..<60:
            localWrite(replicas[rng.int(0...(replicas.count - 1))])
        case 60..<72:
            let up = links.filter(\.isUp)
            guard !up.isEmpty else { return }
            count("link drop")
            drop(rng.pick(up), reason: "dropped by the network")
        case 72..<78:
            // A partition: some links cut for a while, then they heal.
            let until = now + rng.millis(1_000...15_000)
            var cut = 0
            for link in links where rng.chance(0.4) {
                link.cutUntil = max(link.cutUntil, until)
                drop(link, reason: "partitioned")
                cut += 1
            }
            if cut > 0 { count("partition") }
            note("partition until \(until)")
        case 78..<82:
            crash(replicas[rng.int(0...(replicas.count - 1))])
        case 82..<87:
            // Clock skew and jumps, within the drift cap.
            let replica = replicas[rng.int(0...(replicas.count - 1))]
            let skew = Int64(rng.int(-30_000...30_000))
            replica.skew.withLock { $0 = skew }
            count("clock skew")
            note("\(replica.name) clock skew \(skew) ms")
        case 87:
            // A jump back beyond the drift cap: local writes are refused
            // until the clock is right (the heal sets it right).
            let replica = replicas[rng.int(0...(replicas.count - 1))]
            replica.skew.withLock { $0 = -2 * 3_600_000 }
            count("clock jump back 2 h")
            note("\(replica.name) clock jumps back 2 h")
        case 88:
            copyDatabase()
        case 89:
            changeMode()
        case 90..<93:
            importRows(replicas[rng.int(0...(replicas.count - 1))])
        case 93..<95:
            takeSnapshot(replicas[rng.int(0...(replicas.count - 1))])
        case 95:
            restoreSnapshot(replicas[rng.int(0...(replicas.count - 1))])
        case 96:
            switch rng.int(0...2) {
            case 0: legacyCopyWrites()
            case 1: joinBySnapshot(replicas[rng.int(0...(replicas.count - 1))])
            default: visitorWrites()
            }
        case 97, 98:
            sqlWrite(replicas[rng.int(0...(replicas.count - 1))])
        default:
            schemaChange(replicas[rng.int(0...(replicas.count - 1))])
        }
    }

    /// `syncctl schema …` on one replica (docs/schema.md "How the schema
    /// evolves"): drawn from changes that agree, disagree (the same field
    /// with another type or list: a conflict) and only describe.
    func schemaChange(_ replica: SimReplica) {
        guard let store = replica.store else { return }
        let changes: [SchemaEvolution.Change] = [
            .addField(collection: "countries", field: "size", type: rng.pick(["integer", "text"]), values: [], targets: [], description: nil),
            .addField(collection: "countries", field: "tier", type: "enum", values: rng.pick([["a", "b"], ["a", "c"]]), targets: [], description: nil),
            .addValue(collection: "countries", field: "tier", value: rng.pick(["d", "e"])),
            .addCollection(name: "mines", description: rng.pick(["mines", "deposits"])),
            .addField(collection: "mines", field: "country", type: "ref", values: [], targets: ["countries"], description: nil),
            .describe(collection: "countries", field: "notes", label: rng.pick(["Notes", "Remarks"]), description: nil),
            .deprecateField(collection: "countries", field: "role"),
        ]
        let unchanged = fingerprint(replica)
        do {
            let (receipt, _) = try store.changeSchema(rng.pick(changes), author: replica.name)
            guard let dot = receipt.dot else { return }
            count("schema change")
            try recordWrite(dot, by: replica, store: store)
        } catch is SchemaError {
            // Refused as `syncctl schema` refuses it (exists already, not additive): nothing written.
        } catch StoreError.clockBehind {
        } catch where isFullDisk(error, replica) {
            count("disk full: write refused")
            checkUnchanged(replica, since: unchanged, what: "a schema change")
        } catch {
            violation("\(replica.name): a schema change failed: \(error)")
        }
    }

    /// `cp` of a replica's database into a new data directory on another
    /// device, which then joins the team: it must take its own replica id
    /// before it writes (replication-model §3.3).
    func copyDatabase() {
        guard replicas.count < 7 else { return }
        let source = replicas[rng.int(0...(replicas.count - 1))]
        guard source.isUp else { return }
        let index = replicas.count
        let spki = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        // The old bug: the copy is not noticed (the whole data directory,
        // device key included, copied; the file's identity as if its own).
        let bug = options.reintroduce.contains("copied-database")
        let copy = SimReplica(index: index, device: bug ? source.device : DeviceID(spki: spki), directory: directory.appendingPathComponent("r\(index)"),
                              random: rng.split(), world: clock)
        do {
            try FileManager.default.createDirectory(at: copy.directory, withIntermediateDirectories: true)
            for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: source.path + suffix) {
                try FileManager.default.copyItem(atPath: source.path + suffix, toPath: copy.path + suffix)
            }
            if bug { try BugSwitches.hideCopy(at: copy.path) }
            try copy.open()
        } catch {
            return violation("copying \(source.name)'s database failed: \(error)")
        }
        replicas.append(copy)
        count("copied database")
        note("\(copy.name) is a copy of \(source.name)'s database")
        let peer = rng.int(0...(index - 1))
        addLink(peer, index, modes: [.sendReceive, .sendReceive], essential: true)
        scheduleConnect(links[links.count - 1])
    }

    /// A link that is not needed to keep the team one changes mode, and
    /// reconnects under it.
    func changeMode() {
        let optional = links.filter { !$0.essential }
        guard !optional.isEmpty else { return }
        let link = rng.pick(optional)
        let modes: [[PeerMode]] = [[.sendReceive, .sendReceive], [.sendOnly, .receiveOnly], [.receiveOnly, .sendOnly], [.sendReceive, .receiveOnly]]
        link.modes = rng.pick(modes)
        count("mode change")
        note("link \(link.index) modes now \(link.modes.map(\.rawValue))")
        drop(link, reason: "mode changed")
        scheduleConnect(link)
    }

    /// A CSV import of a few rows (create or change), one transaction.
    func importRows(_ replica: SimReplica) {
        guard let store = replica.store else { return }
        // Countries with a name, or minerals with a name and a set cell
        // (SetCell syntax); either may hold text that looks like other text.
        let minerals = rng.chance(0.4)
        var lines = [minerals ? "id,name,uses" : "id,name,role"]
        func quoted(_ text: String) -> String { "\"" + ScalarText.replacing("\"", with: "\"\"", in: text) + "\"" }
        for _ in 0..<rng.int(1...4) {
            let name = rng.chance(0.3) ? rng.pick(Self.lookAlikes) : "imported \(rng.int(0...9))"
            if minerals {
                let uses = (0..<rng.int(0...3)).map { _ in rng.pick(Self.lookAlikes + ["batteries", "magnets"]) }
                lines.append("m\(rng.int(0...9)),\(quoted(name)),\(quoted(SetCell.join(uses)))")
            } else {
                lines.append("c\(rng.int(0...29)),\(quoted(name)),role \(rng.int(0...9))")
            }
        }
        let unchanged = fingerprint(replica)
        do {
            let rows = try RecordFile.parse(lines.joined(separator: "\n") + "\n", format: .csv, collection: minerals ? "minerals" : "countries", schema: store.schema)
            let report = try store.importRows(rows, author: replica.name)
            guard let dot = report.dot else { return }
            count("import")
            try recordWrite(dot, by: replica, store: store)
        } catch StoreError.clockBehind {
        } catch let error as RecordFileErrors {
            // Rows an analyst's import would refuse (a record whose existence
            // is in conflict) write nothing.
            note("\(replica.name) import refused: \(error)")
        } catch where refusedByAnalystIndex(error, replica) {
            count("write: refused by the analyst's index")
        } catch where isFullDisk(error, replica) {
            count("disk full: write refused")
            checkUnchanged(replica, since: unchanged, what: "an import")
        } catch {
            violation("\(replica.name): an import failed: \(error)")
        }
    }

    /// A snapshot taken while the replica runs (`syncctl snapshot create`).
    func takeSnapshot(_ replica: SimReplica) {
        guard let store = replica.store else { return }
        let url = directory.appendingPathComponent("snapshots/\(replica.name)-\(snapshots.count).\(Snapshots.fileExtension)")
        do {
            let manifest = try Snapshots.create(from: store, to: url)
            snapshots.append((url, replica.index))
            count("snapshot")
            note("\(replica.name) snapshot \(url.lastPathComponent): \(manifest.slots) slots up to seq \(manifest.highestSeq)")
        } catch {
            violation("\(replica.name): a snapshot failed: \(error)")
        }
    }

    /// The replica stops, restores a snapshot (mostly its own; sometimes a
    /// team-mate's, as a backup put on a new machine) and rejoins: the
    /// restored file takes a new replica id, and the database it replaced is
    /// kept aside and merged back after the first sync, so writes made after
    /// the snapshot are not lost (replication-model §7).
    func restoreSnapshot(_ replica: SimReplica) {
        guard replica.isUp, !snapshots.isEmpty else { return }
        let own = snapshots.filter { $0.of == replica.index }
        let pick = !own.isEmpty && rng.chance(0.8) ? rng.pick(own) : rng.pick(snapshots)
        for link in links where link.ends.contains(replica.index) && link.isUp {
            drop(link, reason: "\(replica.name) stops for a restore")
        }
        replica.crash()
        // Sometimes abandoned half-way through the copy into the live file
        // (as by a full disk): rolled back, the database as it was, under
        // its own id, and nothing kept aside by this restore.
        let abandon = rng.chance(0.25)
        var threw = false
        let before = Set(Snapshots.keptAside(in: replica.dataDirectory.url))
        let id = recordedReplica(of: replica)
        let content = abandon ? recordedContent(of: replica) : nil
        // SQL edits waiting or refused in the live database: all of them
        // are in the restored one (none is a slot), and the only ones
        // waiting there (the snapshot's are kept refused).
        let liveEdits = Self.queuedSQLEditRows(at: replica.dataDirectory.databasePath)
        let snapshotEdits = Self.queuedSQLEditRows(at: pick.url.path)
        do {
            let restored = try Snapshots.restore(pick.url, into: replica.dataDirectory, deviceID: replica.device.description, wallClock: replica.wallClock,
                                                 random: replica.options.random) { phase, done in
                if abandon, phase == .copyingIn, done >= 0.5, done < 1 {
                    threw = true
                    throw AbandonedRestore()
                }
            }
            if threw { violation("\(replica.name): a restore abandoned half-way through its copy reported success") }
            let restoredEdits = Self.queuedSQLEditRows(at: replica.dataDirectory.databasePath)
            if liveEdits.all >= 0, restored.sqlEditsCarried != liveEdits.all || restoredEdits.all < liveEdits.all
                || restoredEdits.all > liveEdits.all + snapshotEdits.all || restoredEdits.waiting != liveEdits.waiting {
                violation("\(replica.name): a restore kept \(restoredEdits) SQL edits (all, waiting) of the \(liveEdits) in the database and the \(snapshotEdits) in the snapshot (\(restored.sqlEditsCarried) carried over)")
            }
            if liveEdits.all > 0 { count("restore: SQL edits carried over") }
            count("restore")
            note("\(replica.name) restored \(pick.url.lastPathComponent) as \(restored.replica.short), kept aside: \(restored.keptAside?.lastPathComponent ?? "none")")
        } catch SnapshotError.cannotCopyIn(_, let reason) where abandon && reason.contains("\(AbandonedRestore())") {
            count("restore abandoned mid-copy")
            let now = recordedReplica(of: replica)
            if now == nil || now != id { violation("\(replica.name): an abandoned restore left replica id \(now.map { ReplicaID(bytes: $0)?.hex ?? "?" } ?? "none"), not \(id.map { ReplicaID(bytes: $0)?.hex ?? "?" } ?? "none")") }
            let after = Set(Snapshots.keptAside(in: replica.dataDirectory.url))
            if after != before { violation("\(replica.name): an abandoned restore changed what is kept aside: \(after.symmetricDifference(before).sorted())") }
            if let changed = Self.firstDifference(content, recordedContent(of: replica)) {
                violation("\(replica.name): an abandoned restore changed the database's content (\(changed))")
            }
            note("\(replica.name) abandoned restoring \(pick.url.lastPathComponent) half-way through the copy: rolled back")
        } catch {
            violation("\(replica.name): restoring \(pick.url.lastPathComponent) failed: \(error)")
        }
        schedule(.restart(replica: replica.index), in: rng.millis(200...2_000))
    }

    /// The replica joins by a snapshot of a team-mate (replication-model
    /// §4.6), whatever it holds: the snapshot is taken, checked and adopted
    /// under a new replica id, what the replica held is kept aside and merged
    /// back after its next sync, and replicas that meet it again start
    /// reading it from its origin (`JoinRules.initialCursor`).
    func joinBySnapshot(_ replica: SimReplica) {
        guard let store = replica.store else { return }
        let others = replicas.filter { $0 !== replica && $0.isUp }
        guard !others.isEmpty else { return }
        let peer = rng.pick(others)
        guard let source = peer.store else { return }
        for link in links where link.ends.contains(replica.index) && link.isUp {
            drop(link, reason: "\(replica.name) joins by snapshot")
        }
        let url = directory.appendingPathComponent("joins/\(replica.name)-\(result.faults["join by snapshot", default: 0]).syncsnap")
        let unchanged = fingerprint(replica)
        do {
            _ = try source.takeJoinSnapshot(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            let facts = try JoinSnapshotCheck.verify(path: url.path, expectedReplica: try source.replicaID, seed: store.seed)
            // As the daemon does: the check beside the copy.
            let reason = "joined by a snapshot of \(peer.name)"
            let checked = try store.adoptJoinSnapshot(at: url.path, reason: { _ in reason }) { facts }
            let adoption = checked.adoption
            // As the daemon does after a join (it also turns the writer's automatic checkpoints back on).
            store.checkpointAfterJoin()
            count("join by snapshot")
            note("\(replica.name) joined by a snapshot of \(peer.name) at seq \(facts.highestSeq): \(adoption.previous.short) → \(adoption.replica.short)")
            // The joiner's own index holds back rows of the snapshot (never
            // the whole adoption; replication-model §8): only while it has one,
            // and only rows of the indexed table.
            // Every row the tables lack is one held back with its reason (the
            // analyst's index has no conflict clause that drops rows silently),
            // and each reads as drift until repaired: nothing missing unnamed.
            let drifted = try store.viewDrift()
            if checked.rowsMissing != checked.heldBack.count || drifted.count != checked.heldBack.count {
                violation("\(replica.name): after the join its tables lack \(checked.rowsMissing) row(s) and \(drifted.count) differ from the state, but \(checked.heldBack.count) were held back with a reason")
            } else {
                // The same records (compared as bytes), each a missing row
                // (all of them when every row held back is listed).
                func key(_ ref: RecordRef) -> [UInt8] { Array(ref.collection.utf8) + [0] + Array(ref.id.utf8) }
                let held = checked.heldBack.listed.map { key($0.ref) }.sorted { $0.lexicographicallyPrecedes($1) }
                let missing = drifted.drift.map { key($0.ref) }.sorted { $0.lexicographicallyPrecedes($1) }
                let same = checked.heldBack.count <= RefusedRows.listLimit
                    ? held == missing : held.allSatisfy { row in missing.contains { $0 == row } }
                if !same || drifted.drift.contains(where: { $0.kind != .missingRow }) {
                    violation("\(replica.name): after the join the rows that differ from the state (\(drifted.drift.prefix(3))) are not the rows held back (\(checked.heldBack.listed.prefix(3)))")
                }
            }
            if !checked.heldBack.isEmpty {
                count("join: rows held back by the analyst's index")
                note("\(replica.name): its analyst's index held back \(checked.heldBack.count) row(s) of the snapshot")
                if !hasAnalystIndex(replica) || checked.heldBack.listed.contains(where: { !$0.ref.collection.utf8.elementsEqual("countries".utf8) }) {
                    violation("\(replica.name): rows of the snapshot held back without the analyst's index on countries: \(checked.heldBack.listed.prefix(3))")
                }
            }
            committed(replica)
            // A power cut right after the commit, which the disk kept while
            // it lost the copy's new name (as file systems may without a
            // directory sync): the copy is left under its staging name, and
            // the next start must merge it, not remove it (§4.6).
            if rng.chance(0.3) {
                let staging = replica.directory.appendingPathComponent("joining-aside-sim-\(result.faults["join: kept-aside name lost", default: 0])")
                do {
                    try FileManager.default.moveItem(at: adoption.keptAside, to: staging)
                } catch {
                    violation("\(replica.name): could not move \(adoption.keptAside.lastPathComponent) back to its staging name: \(error)")
                }
                count("join: kept-aside name lost")
                note("\(replica.name): a power cut kept the join and lost the name of \(adoption.keptAside.lastPathComponent)")
                // And, half the time, the removal of the copy's journal: that
                // journal is stale (the copy is marked whole) and rolling it
                // back would empty the copy.
                if rng.chance(0.5) {
                    do {
                        try RollbackJournal.header(restoringPages: 0, pageSize: 4_096).write(to: URL(fileURLWithPath: staging.path + "-journal"))
                        count("join: copy's journal removal lost")
                    } catch {
                        violation("\(replica.name): could not leave a journal beside \(staging.lastPathComponent): \(error)")
                    }
                }
                crash(replica)
            }
        } catch where isFullDisk(error, replica) {
            // Refused whole: the joiner goes on with what it held.
            count("disk full: write refused")
            checkUnchanged(replica, since: unchanged, what: "a join by snapshot")
        } catch {
            violation("\(replica.name): joining by a snapshot of \(peer.name) failed: \(error)")
        }
    }

    /// Two replicas hear one dot with two contents: a data directory copied
    /// by a daemon older than issue 19 (which kept the original's replica id)
    /// issued the same next dot on both machines. Such peers exist in the
    /// field; the merge must stay a join over them (replication-model §2.3),
    /// whichever replica hears which version first.
    func legacyCopyWrites() {
        let up = replicas.filter(\.isUp)
        guard up.count >= 2 else { return }
        let first = rng.pick(up)
        let second = rng.pick(up.filter { $0 !== first })
        let legacy = legacyReplica ?? ReplicaID(high: rng.next(), low: rng.next())
        legacyReplica = legacy
        legacyCounter += 1
        let dot = Dot(replica: legacy, counter: legacyCounter)
        let key = SlotKey(collection: "countries", record: "c\(rng.int(0...29))", field: "notes")
        let hlc = HLC(millis: clock.wallMillis, logical: 0)
        for (replica, text) in [(first, "legacy copy A \(legacyCounter)"), (second, "legacy copy B \(legacyCounter)")] {
            guard let store = replica.store, !replica.diskFull else { continue }
            let state = SlotState(versions: [Version(dot: dot, hlc: hlc, author: "legacy", value: .text(text))],
                                  context: VersionContext([(legacy, legacyCounter)]))
            do {
                _ = try store.apply([SlotChange(key: key, state: state)], from: legacy)
                committed(replica)
            } catch {
                violation("\(replica.name) refused a legacy peer's version: \(error)")
            }
        }
        count("legacy dot collision")
        note("legacy copy issued \(dot) to \(key) twice: on \(first.name) and \(second.name)")
    }

    /// A peer outside the run (a newer build whose schema has fields this
    /// one's lacks, or a hostile one) brings one replica fields no replica
    /// knows, and leaves: one field in conflict (two visitors' concurrent
    /// versions, merged before they came) and another whose name looks the
    /// same and is other bytes (replication-model §2.4: NFC and NFD, a
    /// Kelvin sign beside `K`). Every replica must read and flag the record
    /// alike, its table's `conflicted` column included.
    func visitorWrites() {
        let up = replicas.filter(\.isUp)
        guard !up.isEmpty else { return }
        let replica = rng.pick(up)
        guard let store = replica.store else { return }
        let ref = RecordRef(collection: "countries", id: "c\(rng.int(0...29))")
        let pair = rng.pick(Self.lookAlikeFields)
        let (conflicted, single) = rng.chance(0.5) ? (pair[0], pair[1]) : (pair[1], pair[0])
        let visitors = (0..<3).map { _ in ReplicaID(high: rng.next(), low: rng.next()) }
        let hlc = HLC(millis: clock.wallMillis, logical: 0)
        func version(_ visitor: ReplicaID) -> Version {
            Version(dot: Dot(replica: visitor, counter: 1), hlc: hlc, author: "visitor", value: .text(rng.pick(Self.lookAlikes)))
        }
        let changes = [
            SlotChange(key: SlotKey(collection: ref.collection, record: ref.id, field: conflicted),
                       state: SlotState(versions: [version(visitors[0]), version(visitors[1])], context: VersionContext([(visitors[0], 1), (visitors[1], 1)]))),
            SlotChange(key: SlotKey(collection: ref.collection, record: ref.id, field: single),
                       state: SlotState(versions: [version(visitors[2])], context: VersionContext([(visitors[2], 1)]))),
        ]
        // A visitor that meets a full disk comes back another day: not here.
        guard !replica.diskFull else { return }
        do {
            _ = try store.apply(changes, from: visitors[2])
            committed(replica)
        } catch {
            violation("\(replica.name) refused a visiting peer's unknown fields: \(error)")
        }
        count("visitor's unknown field")
        note("visitors wrote \(Array(conflicted.unicodeScalars)) (in conflict) and \(Array(single.unicodeScalars)) of \(ref) on \(replica.name)")
    }

    /// Pairs of field names no schema of the run has, alike to the eye.
    static let lookAlikeFields = [["caf\u{E9}", "cafe\u{301}"], ["\u{212A}iln", "Kiln"], ["kiln", "Kiln"]]

    func count(_ fault: String) {
        assert(Simulation.faultKinds.contains(fault), "unnamed fault \(fault)")
        result.faults[fault, default: 0] += 1
    }

    func crash(_ replica: SimReplica) {
        guard replica.isUp else { return }
        result.crashes += 1
        count("crash")
        note("\(replica.name) crashes")
        for link in links where link.ends.contains(replica.index) && link.isUp {
            drop(link, reason: "\(replica.name) crashed")
        }
        replica.crash()
        schedule(.restart(replica: replica.index), in: rng.millis(500...5_000))
    }

    /// Text that looks like other text but is other bytes (replication-model
    /// §2.4): NFC and NFD spellings, two code points for one glyph, marks
    /// that join CSV and edit syntax into one Character, edge blanks.
    /// Values keep their bytes (two spellings written concurrently are a
    /// conflict); set members typed locally are normalized to NFC.
    static let lookAlikes = ["caf\u{E9}", "cafe\u{301}", "\u{C5}ngstr\u{F6}m", "\u{212B}ngstro\u{308}m", "\u{742}b&lect",
                             "x\"\u{301}", "a; b", "a\\; b", " edge ", "\u{200B}zw", "C:\\data\\"]

    /// A local write of a random kind, recorded in the oracle.
    func localWrite(_ replica: SimReplica) {
        guard let store = replica.store else { return }
        let author = replica.name
        let values = ["lithium", "cobalt", "nickel", "graphite", "gallium", "germanium", "tungsten", "rare earths"] + Self.lookAlikes
        let unchanged = fingerprint(replica)
        do {
            let receipt: WriteReceipt
            let kindName: String
            let kind = rng.int(0...9)
            if kind < 6 {
                let ref = RecordRef(collection: "countries", id: "c\(rng.int(0...29))")
                // Fields the team added (schemaChange) are written too, once this replica knows them.
                let added = ["size", "tier"].filter { store.schema.collection("countries")?.field($0) != nil }
                let field = rng.pick(["name", "role", "notes"] + added)
                let value: Value = field == "size" ? .text("\(rng.int(0...99))") : field == "tier" ? .text("a")
                    : .text("\(rng.pick(values)) \(rng.int(0...99))")
                if try store.record(ref)?.exists == true {
                    receipt = try store.update(ref, [.set(field, value)], author: author)
                    kindName = "write: set"
                } else {
                    receipt = try store.create(ref, field == "name" ? [.set(field, value)] : [.set("name", .text(ref.id)), .set(field, value)], author: author)
                    kindName = "write: create"
                }
            } else if kind < 8 {
                let ref = RecordRef(collection: "minerals", id: "m\(rng.int(0...9))")
                let member = rng.pick(values)
                let edit: FieldEdit = rng.chance(0.7) ? .add("uses", member) : .remove("uses", member)
                if try store.record(ref)?.exists == true {
                    receipt = try store.update(ref, [edit], author: author)
                } else {
                    receipt = try store.create(ref, [.set("name", .text(member)), edit], author: author)
                }
                kindName = "write: set member"
            } else if kind < 9 {
                let ref = RecordRef(collection: "countries", id: "c\(rng.int(0...29))")
                guard try store.record(ref)?.exists == true else { return }
                receipt = try store.delete(ref, author: author)
                kindName = "write: delete"
            } else {
                let conflicts = try store.conflicts()
                guard !conflicts.isEmpty else { return }
                let conflict = rng.pick(conflicts)
                let pick = rng.pick(conflict.siblings)
                receipt = try store.resolve(conflict.key, expecting: conflict.siblings.map(\.dot), value: pick.value, author: author)
                kindName = "write: resolve"
            }
            guard let dot = receipt.dot else { return }
            count(kindName)
            try recordWrite(dot, by: replica, store: store)
        } catch StoreError.existenceConflicted, StoreError.recordNotFound, StoreError.siblingsChanged, StoreError.notConflicted, StoreError.clockBehind {
            // Refused as an analyst's edit would be: nothing written.
        } catch is SchemaError {
            // A value the replica's schema refuses (an added field's type, withheld while in conflict).
        } catch where refusedByAnalystIndex(error, replica) {
            count("write: refused by the analyst's index")
        } catch where isFullDisk(error, replica) {
            count("disk full: write refused")
            checkUnchanged(replica, since: unchanged, what: "a local write")
        } catch {
            violation("\(replica.name): a local write failed: \(error)")
        }
    }

    /// A write to a collection table from another SQLite client (docs/sql.md),
    /// sometimes rolled back, sometimes invalid, sometimes while the
    /// replica is down; taken up at once or later (as syncd's poll would).
    func sqlWrite(_ replica: SimReplica) {
        let id = "c\(rng.int(0...29))", mineral = "m\(rng.int(0...9))"
        let statement = rng.pick([
            "UPDATE countries SET notes = 'sql \(rng.int(0...99))' WHERE id = '\(id)'",
            "UPDATE countries SET name = 'sql name \(rng.int(0...9))', role = NULL WHERE id = '\(id)'",
            "UPDATE countries SET region = 'nowhere' WHERE id = '\(id)'",
            "UPDATE countries SET name = NULL WHERE id = '\(id)'",
            "INSERT INTO countries(id, name, notes) VALUES ('\(id)', 'sql \(id)', 'inserted')",
            "DELETE FROM countries WHERE id = '\(id)'",
            "UPDATE minerals SET uses = json_insert(coalesce(uses, '[]'), '$[#]', 'sql use \(rng.int(0...3))') WHERE id = '\(mineral)'",
            "UPDATE minerals SET uses = '[]' WHERE id = '\(mineral)'",
            "UPDATE countries SET notes = 'Cafe' || char(769) WHERE id = '\(id)'",
        ])
        let rollBack = rng.chance(0.1)
        do {
            let client = try SQLClient(path: replica.path)
            let done = try client.run(statement, rollBack: rollBack)
            count(rollBack ? "sql: rolled back" : done ? "sql: statement" : "sql: refused by a trigger")
            note("\(replica.name) sql\(rollBack ? " (rolled back)" : ""): \(statement)\(done ? "" : " — refused")")
        } catch {
            violation("\(replica.name): a SQL client could not write: \(error)")
            return
        }
        if replica.store != nil, rng.chance(0.6) { takeUpSQLEdits(replica) }
    }

    /// What `syncd` does on its local-write poll: SQL edits become local writes.
    func takeUpSQLEdits(_ replica: SimReplica) {
        guard let store = replica.store else { return }
        let unchanged = fingerprint(replica)
        do {
            let report = try store.takeUpSQLEdits(author: replica.name)
            if report.refusedCount > 0 { count("sql: refused and kept") }
            for dot in report.dots {
                count("sql: taken up")
                try recordWrite(dot, by: replica, store: store)
            }
            // Stopped after some transactions committed: those are reported
            // (their dots are in the oracle now), the rest stay queued.
            if let stopped = report.stoppedBy {
                if isFullDisk(message: stopped, replica) {
                    count("disk full: write refused")
                    note("\(replica.name) took up \(report.dots.count) SQL edit(s) before its full disk stopped it (applied \(report.applied), unchanged \(report.unchanged), refused \(report.refused.map { "\($0.edit) \($0.operation) \($0.reason ?? "")" }))")
                } else {
                    violation("\(replica.name): taking up SQL edits stopped: \(stopped)")
                }
            }
        } catch StoreError.clockBehind {
            // Kept in the queue; taken up once the clock is right.
        } catch where isFullDisk(error, replica) {
            // Before any commit: all kept in the queue, taken up once the disk has room.
            count("disk full: write refused")
            checkUnchanged(replica, since: unchanged, what: "taking up SQL edits")
        } catch {
            violation("\(replica.name): taking up SQL edits failed: \(error)")
        }
    }

    /// A committed local write: into the oracle, and every session hears.
    func recordWrite(_ dot: Dot, by replica: SimReplica, store: Store) throws {
        result.writes += 1
        if let previous = oracle.record(dot: dot, by: replica.index) {
            violation("dot \(dot) issued twice: by r\(previous) and by \(replica.name)")
        }
        var keys = 0
        try store.forEachSlot { key, state in
            guard state.versions.contains(where: { $0.dot == dot }) else { return }
            keys += 1
            oracle.written(dot: dot, key: key, context: state.context)
        }
        note("\(replica.name) wrote \(dot) to \(keys) slot(s)")
        committed(replica)
    }

    /// Faults stop, every replica comes back, every link may connect.
    func heal() {
        healed = true
        healedAt = now
        note("heal")
        for replica in replicas { freeDisk(replica) }
        for replica in replicas where !replica.isUp {
            do { try replica.open() } catch { violation("\(replica.name) does not reopen: \(error)") }
        }
        for replica in replicas { replica.skew.withLock { $0 = 0 } }
        for replica in replicas { takeUpSQLEdits(replica) }
        for link in links {
            link.cutUntil = 0
            link.connecting = false
            if !link.isUp { scheduleConnect(link) }
        }
        schedule(.check, in: 1_000)
    }

    /// Every second after the heal: are the digests equal?
    func checkConvergence() {
        guard convergedAt == nil else { return }
        // A replica whose restore still keeps a database aside has not
        // joined yet: what it wrote after the snapshot comes back with the
        // fold, after its first sync (seed 1156 counted equal digests before).
        let digests = replicas.compactMap { try? $0.store?.digest().buckets }
        if digests.count == replicas.count, digests.allSatisfy({ $0 == digests[0] }), replicas.allSatisfy({ keptAside($0).isEmpty }) {
            convergedAt = now
            result.convergedAfter = now - healedAt
            note("converged after \(now - healedAt) ms")
            return
        }
        schedule(.check, in: 1_000)
    }
}

extension World {
    /// The rows of every SQL-edit queue of the database at `path` (all,
    /// and those waiting), read as any SQLite client would; -1 when unreadable.
    static func queuedSQLEditRows(at path: String) -> (all: Int, waiting: Int) {
        (try? DatabaseQueue(path: path).read { db in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(lower(name), 1, 15) = 'sync_sql_edits_'")
            var counts = (all: 0, waiting: 0)
            for table in tables {
                counts.all += try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.quotedDatabaseIdentifier)") ?? 0
                counts.waiting += try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.quotedDatabaseIdentifier) WHERE reason IS NULL") ?? 0
            }
            return counts
        }) ?? (-1, -1)
    }

    /// The replica id bytes recorded in a stopped replica's database, read
    /// as any SQLite client would (opening a store would write).
    func recordedReplica(of replica: SimReplica) -> Data? {
        try? DatabaseQueue(path: replica.dataDirectory.databasePath).read { db in
            try Data.fetchOne(db, sql: "SELECT value FROM sync_meta WHERE key = 'replica_id'")
        }
    }
}

extension World {
    /// Every row of every table of a stopped replica's database, as bytes
    /// (each value tagged by its storage class; a table's rows sorted
    /// bytewise), by table name; nil when it cannot be read. Compared by
    /// bytes, so a rolled-back copy that left one cell different is seen.
    func recordedContent(of replica: SimReplica) -> [String: [Data]]? {
        try? DatabaseQueue(path: replica.dataDirectory.databasePath).read { db in
            var tables: [String: [Data]] = [:]
            // The schema too (tables, indexes, triggers, views), and the
            // rowids of tables that have them (history is read in rowid order).
            var schema: [Data] = []
            for row in try Row.fetchAll(db, sql: "SELECT type, name, tbl_name, sql FROM sqlite_master") {
                var bytes = Data()
                for value in row.databaseValues { Self.append(value, to: &bytes) }
                schema.append(bytes)
            }
            tables["(sqlite_master)"] = schema.sorted { $0.lexicographicallyPrecedes($1) }
            tables["(user_version)"] = [Data("\(try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0)".utf8)]
            let names = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) != 'sqlite_'")
            for name in names {
                var rows: [Data] = []
                let withoutRowid = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = ?", arguments: [name])?
                    .uppercased().contains("WITHOUT ROWID") ?? false
                for row in try Row.fetchAll(db, sql: "SELECT \(withoutRowid ? "" : "rowid, ")* FROM \(name.quotedDatabaseIdentifier)") {
                    var bytes = Data()
                    for value in row.databaseValues { Self.append(value, to: &bytes) }
                    rows.append(bytes)
                }
                tables[name] = rows.sorted { $0.lexicographicallyPrecedes($1) }
            }
            return tables
        }
    }

    private static func append(_ value: DatabaseValue, to bytes: inout Data) {
        func length(_ count: Int) { withUnsafeBytes(of: UInt64(count).littleEndian) { bytes.append(contentsOf: $0) } }
        switch value.storage {
        case .null: bytes.append(0)
        case .int64(let int): bytes.append(1); withUnsafeBytes(of: int.littleEndian) { bytes.append(contentsOf: $0) }
        case .double(let double): bytes.append(2); withUnsafeBytes(of: double.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        case .string(let text): bytes.append(3); length(text.utf8.count); bytes.append(contentsOf: text.utf8)
        case .blob(let blob): bytes.append(4); length(blob.count); bytes.append(blob)
        }
    }

    /// The first table whose rows differ between two `recordedContent`s
    /// (or why they cannot be compared); nil when they are equal.
    static func firstDifference(_ before: [String: [Data]]?, _ after: [String: [Data]]?) -> String? {
        guard let before else { return "unreadable before the restore" }
        guard let after else { return "unreadable after it" }
        for name in Set(before.keys).union(after.keys).sorted() where before[name] != after[name] {
            return "table \(name): \(before[name]?.count ?? 0) rows before, \(after[name]?.count ?? 0) after"
        }
        return nil
    }
}

/// What the simulation throws to abandon a restore half-way through its copy.
struct AbandonedRestore: Error, CustomStringConvertible {
    var description: String { "abandoned by the simulation" }
}
