import Foundation
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
            drop(rng.pick(up), reason: "dropped by the network")
        case 72..<78:
            // A partition: some links cut for a while, then they heal.
            let until = now + rng.millis(1_000...15_000)
            for link in links where rng.chance(0.4) {
                link.cutUntil = max(link.cutUntil, until)
                drop(link, reason: "partitioned")
            }
            note("partition until \(until)")
        case 78..<82:
            crash(replicas[rng.int(0...(replicas.count - 1))])
        case 82..<88:
            // Clock skew and jumps, within the drift cap.
            let replica = replicas[rng.int(0...(replicas.count - 1))]
            let skew = Int64(rng.int(-30_000...30_000))
            replica.skew.withLock { $0 = skew }
            note("\(replica.name) clock skew \(skew) ms")
        default:
            localWrite(replicas[rng.int(0...(replicas.count - 1))])
        }
    }

    func crash(_ replica: SimReplica) {
        guard replica.isUp else { return }
        result.crashes += 1
        note("\(replica.name) crashes")
        for link in links where link.ends.contains(replica.index) && link.isUp {
            drop(link, reason: "\(replica.name) crashed")
        }
        replica.crash()
        schedule(.restart(replica: replica.index), in: rng.millis(500...5_000))
    }

    /// A local write of a random kind, recorded in the oracle.
    func localWrite(_ replica: SimReplica) {
        guard let store = replica.store else { return }
        let author = replica.name
        let values = ["lithium", "cobalt", "nickel", "graphite", "gallium", "germanium", "tungsten", "rare earths"]
        do {
            let receipt: WriteReceipt
            let kind = rng.int(0...9)
            if kind < 6 {
                let ref = RecordRef(collection: "countries", id: "c\(rng.int(0...29))")
                let field = rng.pick(["name", "role", "notes"])
                let value = Value.text("\(rng.pick(values)) \(rng.int(0...99))")
                if try store.record(ref)?.exists == true {
                    receipt = try store.update(ref, [.set(field, value)], author: author)
                } else {
                    receipt = try store.create(ref, field == "name" ? [.set(field, value)] : [.set("name", .text(ref.id)), .set(field, value)], author: author)
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
            } else if kind < 9 {
                let ref = RecordRef(collection: "countries", id: "c\(rng.int(0...29))")
                guard try store.record(ref)?.exists == true else { return }
                receipt = try store.delete(ref, author: author)
            } else {
                let conflicts = try store.conflicts()
                guard !conflicts.isEmpty else { return }
                let conflict = rng.pick(conflicts)
                let pick = rng.pick(conflict.siblings)
                receipt = try store.resolve(conflict.key, expecting: conflict.siblings.map(\.dot), value: pick.value, author: author)
            }
            guard let dot = receipt.dot else { return }
            result.writes += 1
            if let previous = oracle.record(dot: dot, by: replica.index) {
                violation("dot \(dot) issued twice: by r\(previous) and by \(replica.name)")
            }
            var keys: [SlotKey] = []
            try store.forEachSlot { key, state in
                if state.versions.contains(where: { $0.dot == dot }) { keys.append(key) }
            }
            oracle.written(dot: dot, keys: keys)
            note("\(replica.name) wrote \(dot) to \(keys.count) slot(s)")
            committed(replica)
        } catch StoreError.existenceConflicted, StoreError.recordNotFound, StoreError.siblingsChanged, StoreError.notConflicted {
            // Refused as an analyst's edit would be: nothing written.
        } catch {
            violation("\(replica.name): a local write failed: \(error)")
        }
    }

    /// Faults stop, every replica comes back, every link may connect.
    func heal() {
        healed = true
        healedAt = now
        note("heal")
        for replica in replicas where !replica.isUp {
            do { try replica.open() } catch { violation("\(replica.name) does not reopen: \(error)") }
        }
        for replica in replicas { replica.skew.withLock { $0 = 0 } }
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
        let digests = replicas.compactMap { try? $0.store?.digest().buckets }
        if digests.count == replicas.count, digests.allSatisfy({ $0 == digests[0] }) {
            convergedAt = now
            result.convergedAfter = now - healedAt
            note("converged after \(now - healedAt) ms")
            return
        }
        schedule(.check, in: 1_000)
    }
}
