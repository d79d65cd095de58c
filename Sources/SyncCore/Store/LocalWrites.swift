import GRDB

/// One edit of a record in a local write.
public enum FieldEdit: Hashable, Sendable {
    /// Sets a scalar field (`.null` clears it).
    case set(String, Value)
    /// Adds a member to a set field.
    case add(String, String)
    /// Removes a member from a set field.
    case remove(String, String)
}

/// What a local write transaction did.
public struct WriteReceipt: Hashable, Sendable {
    /// The transaction's dot, shared by every slot it wrote; nil if it wrote nothing.
    public let dot: Dot?
    public let hlc: HLC?
    public let slotsWritten: Int
}

extension Store {
    /// Creates a record, or re-creates one that existed before: fields it does
    /// not set are written null and set members it does not list are removed.
    ///
    /// - Parameter onlyIfAbsent: refuse (`recordExists`) when the record
    ///   exists or its existence is in conflict, checked inside the write
    ///   transaction (the web app never re-creates over a record).
    @discardableResult
    public func create(_ ref: RecordRef, _ edits: [FieldEdit], author: String, onlyIfAbsent: Bool = false) throws -> WriteReceipt {
        let collection = try editableCollection(ref.collection)
        try RecordIDRule.check(ref.id)
        let planned = try plan(edits, for: ref, in: collection)
        let missing = collection.requiredFields.filter { field in !planned.contains { $0.key.field == field.name && $0.value != .null } }
        guard missing.isEmpty else { throw SchemaError.missingRequired(record: ref.description, fields: missing.map(\.name)) }
        return try localTransaction(author: author) { tx in
            let current = try RecordView.load(ref, from: tx.db)
            if onlyIfAbsent, let current, current.exists || current.existence.isConflicted { throw StoreError.recordExists(ref) }
            if let current, current.existence.isConflicted { throw StoreError.existenceConflicted(ref) }
            try tx.write(SlotKey(collection: ref.collection, record: ref.id, field: SlotKey.existsField), .bool(true))
            for (key, value) in planned { try tx.write(key, value) }
            guard let current else { return }
            try tx.clearUnsaid(in: collection, current: current) { field, member in
                planned.contains { $0.key.field == field && UTF8Identity.equal($0.key.element, member ?? "") }
            }
        }
    }

    /// Edits fields and set members of an existing record.
    ///
    /// - Parameter expecting: per field, the version token the editor was
    ///   shown (`versionTokens`); checked inside the write transaction, so a
    ///   version that arrived since refuses the edit (`fieldsChanged`) and
    ///   nothing is superseded unseen.
    @discardableResult
    public func update(_ ref: RecordRef, _ edits: [FieldEdit], author: String, expecting: [String: String] = [:]) throws -> WriteReceipt {
        let collection = try editableCollection(ref.collection)
        let planned = try plan(edits, for: ref, in: collection)
        for field in collection.requiredFields where planned.contains(where: { $0.key.field == field.name && $0.value == .null }) {
            throw SchemaError.missingRequired(record: ref.description, fields: [field.name])
        }
        guard !planned.isEmpty else { throw StoreError.invalidEdit("nothing to change in \(ref): give FIELD=VALUE, SET+=MEMBER or SET-=MEMBER.") }
        return try localTransaction(author: author) { tx in
            try Self.requireExisting(ref, in: tx.db)
            if !expecting.isEmpty { try Self.checkTokens(expecting, of: ref, schema: schema, in: tx.db) }
            try tx.write(SlotKey(collection: ref.collection, record: ref.id, field: SlotKey.existsField), .bool(true))
            for (key, value) in planned { try tx.write(key, value) }
        }
    }

    /// Deletes a record: `_exists` becomes false. A delete concurrent with an
    /// edit elsewhere surfaces as a conflict on `_exists`.
    @discardableResult
    public func delete(_ ref: RecordRef, author: String) throws -> WriteReceipt {
        _ = try editableCollection(ref.collection)
        return try localTransaction(author: author) { tx in
            try Self.requireExisting(ref, in: tx.db)
            try tx.write(SlotKey(collection: ref.collection, record: ref.id, field: SlotKey.existsField), .bool(false))
        }
    }

    /// Resolves a conflicted slot with `value`, after checking that its siblings are
    /// still exactly the versions `expected` names (else `siblingsChanged`, nothing written).
    ///
    /// The write supersedes the versions the analyst saw, and nothing that arrived since.
    @discardableResult
    public func resolve(_ key: SlotKey, expecting expected: [Dot], value: Value, author: String) throws -> WriteReceipt {
        let ref = key.recordRef
        // What decides validation is settled by picking a proposal, never by
        // a new definition: a resolve cannot retype or narrow (docs/schema.md).
        let decidesValidation = key.collection == SchemaEvolution.collection && ["type", "values", "targets"].contains(key.field)
        if key.field == SlotKey.existsField {
            guard case .bool = value else { throw SchemaError.invalidValue(field: SlotKey.existsField, value: value.description, expected: "true (keep) or false (delete)") }
        }
        return try localTransaction(author: author) { tx in
            // Validated against the schema this transaction writes under (a
            // sync may have brought a field's definition since the caller looked).
            let collection = try tx.writer.schema.requireCollection(key.collection)
            let field = key.field == SlotKey.existsField ? nil : collection.field(key.field)
            var checked = value
            if let field {
                checked = try field.validate(value)
                if field.isRequired, checked == .null { throw SchemaError.missingRequired(record: ref.description, fields: [key.field]) }
            }
            let state = try tx.writer.load(key)
            let reading = SlotReader.scalar(state)
            guard reading.isConflicted else { throw StoreError.notConflicted(key) }
            let existsKey = SlotKey(collection: key.collection, record: key.record, field: SlotKey.existsField)
            let existence = key.field == SlotKey.existsField ? nil : SlotReader.exists(try tx.writer.load(existsKey))
            // Resolving a field of a deleted record must not bring it back.
            if let existence, !existence.isConflicted, existence.value != .bool(true) { throw StoreError.recordNotFound(ref) }
            guard Set(state.versions.map(\.dot)) == Set(expected) else { throw StoreError.siblingsChanged(key, current: reading.siblings) }
            if key.field != SlotKey.existsField, field == nil {
                try Self.requirePickable(key, value: checked, among: reading.siblings, in: tx.db)
            }
            if decidesValidation, !reading.siblings.contains(where: { $0.value == checked }) {
                throw StoreError.invalidEdit("\(key.field) of \(ref) is settled by picking one of the definitions proposed (`--pick N`), not by a new one: a schema change is additive only")
            }
            if let existence {
                if existence.isConflicted { throw StoreError.existenceConflicted(ref) }
                try tx.write(existsKey, .bool(true))
            }
            try tx.write(key, checked)
        }
    }

    /// A field this schema does not know (a peer's, replication-model §8) is
    /// settled only by picking one of the versions proposed, compared by
    /// bytes: nothing here can validate a new value for it. Nor while its
    /// definition is here but withheld (two definitions in conflict, or one
    /// this build cannot use): once that is settled the field has rules,
    /// which a value picked before might break.
    static func requirePickable(_ key: SlotKey, value: Value, among siblings: [Version], in db: Database) throws {
        let ref = key.recordRef
        let definition = RecordRef(collection: SchemaEvolution.collection, id: "f.\(key.collection).\(key.field)")
        if !(try db.storedSlots(definition)).isEmpty {
            throw SchemaError.withheldField(field: key.field, definition: definition.description)
        }
        guard siblings.contains(where: { $0.value == value }) else {
            throw StoreError.invalidEdit("\(key.field) of \(ref) is not a field of this replica's schema (a peer wrote it): settle it by picking one of its versions (`--pick N`), not with a new value")
        }
    }

    /// A collection that record edits may write: `_schema` is changed only
    /// through `changeSchema` (additive, checked) and `resolve`.
    func editableCollection(_ name: String) throws -> CollectionSchema {
        if name.hasPrefix("_") {
            throw StoreError.invalidEdit("'\(name)' holds the team's schema: change it with `syncctl schema add-field|add-value|describe|…` (see `syncctl schema --help`), settle its conflicts with `syncctl resolve`.")
        }
        return try schema.requireCollection(name)
    }

    /// Checks edits against the schema; returns the slots to write with canonical values.
    func plan(_ edits: [FieldEdit], for ref: RecordRef, in collection: CollectionSchema) throws -> [(key: SlotKey, value: Value)] {
        var planned: [(key: SlotKey, value: Value)] = []
        func key(_ field: String, _ element: String = "") -> SlotKey { SlotKey(collection: collection.name, record: ref.id, field: field, element: element) }
        for edit in edits {
            switch edit {
            case .set(let name, let value):
                let field = try collection.requireField(name)
                planned.append((key(name), try field.validate(value)))
            case .add(let name, let member):
                let field = try collection.requireField(name)
                planned.append((key(name, try field.validateMember(member)), .bool(true)))
            case .remove(let name, let member):
                let field = try collection.requireField(name)
                planned.append((key(name, try field.validateMember(member)), .bool(false)))
            }
        }
        // One version per slot per transaction: a later edit of the same slot wins.
        var seen = Set<SlotKey>()
        return planned.reversed().filter { seen.insert($0.key).inserted }.reversed()
    }

    static func requireExisting(_ ref: RecordRef, in db: Database) throws {
        guard let view = try RecordView.load(ref, from: db) else { throw StoreError.recordNotFound(ref) }
        if view.existence.isConflicted { throw StoreError.existenceConflicted(ref) }
        guard view.exists else { throw StoreError.recordNotFound(ref) }
    }

    /// Runs `body` in one write transaction under one fresh dot and clock reading.
    /// Raises the counter mark after a local write committed (`CounterMark`).
    /// A failure costs only the detection of a later in-place overwrite, so
    /// the write stands; it is logged, with what to check.
    func markCounter(_ dot: Dot) {
        do {
            try CounterMark.write(dot.replica, dot.counter, for: path)
        } catch {
            options.logger.warning("the write is saved, but the counter mark beside the database was not updated, so a later overwrite of data.db by an older copy may go unnoticed; check the data directory's permissions and free space", metadata: [
                "error": "\(error)"])
        }
    }

    func localTransaction(author: String, _ body: (LocalTransaction) throws -> Void) throws -> WriteReceipt {
        let wall = options.wallClock()
        let maxDrift = options.maxClockDriftMillis
        let maxTextBytes = options.receiveLimits.maxTextBytes
        // Checked once per transaction, not per slot: every version carries it.
        if author.utf8.contains(0) { throw StoreError.invalidEdit("the author name contains a NUL character (U+0000): fix `author` in the config.") }
        var exhausted: ReplicaID?
        let receipt = try pool.write { db in
            var replica = try db.replicaID()
            var stored = UInt64(Int64.fromDatabaseValue(try db.meta(MetaKey.counter)) ?? 0)
            if stored >= ReceiveLimits.maxCounter {
                // Counter space used up (only a damaged file gets here): a new
                // id rather than a trap or a reused dot.
                exhausted = replica
                replica = try Self.startNewReplica(reason: "counter \(stored) reached 2^63-1", device: String.fromDatabaseValue(try db.meta(MetaKey.device)), at: wall, random: options.random, in: db)
                stored = 0
            }
            let counter = stored + 1
            var clock = HybridClock(last: HLC(raw: UInt64(bitPattern: Int64.fromDatabaseValue(try db.meta(MetaKey.hlc)) ?? 0)),
                                    maxDriftMillis: maxDrift)
            // The wall clock went back further than the drift cap since the
            // last stamped change: stamping now would run the clock more than
            // the cap ahead of wall time (replication-model §3.2). Refuse
            // until the clock is right; nothing is written.
            if clock.last.millis > wall + maxDrift { throw StoreError.clockBehind(millis: clock.last.millis - wall, limit: maxDrift) }
            let hlc = clock.tick(wallMillis: wall)
            let tx = LocalTransaction(writer: try SlotWriter(db: db, store: self),
                                      dot: Dot(replica: replica, counter: counter), hlc: hlc, author: author, maxTextBytes: maxTextBytes)
            try body(tx)
            guard tx.writer.slotsChanged > 0 else { return WriteReceipt(dot: nil, hlc: nil, slotsWritten: 0) }
            try tx.writer.finish()
            try db.setMeta(MetaKey.counter, Int64(counter))
            try db.setMeta(MetaKey.hlc, Int64(bitPattern: hlc.raw))
            return WriteReceipt(dot: tx.dot, hlc: hlc, slotsWritten: tx.writer.slotsChanged)
        }
        if let exhausted { retireInMark(exhausted) }
        if let dot = receipt.dot { markCounter(dot) }
        return receipt
    }
}

/// The slots one local write transaction writes, all under one dot.
final class LocalTransaction {
    let writer: SlotWriter
    let dot: Dot
    let hlc: HLC
    let author: String
    let maxTextBytes: Int
    var db: Database { writer.db }

    init(writer: SlotWriter, dot: Dot, hlc: HLC, author: String, maxTextBytes: Int) {
        self.writer = writer
        self.dot = dot
        self.hlc = hlc
        self.author = author
        self.maxTextBytes = maxTextBytes
    }

    /// Re-creation of a record that existed before (replication-model §2.2):
    /// writes null to every scalar field and removes every present member
    /// that the new record does not say (`said(field, member)`; member nil
    /// for a scalar field).
    func clearUnsaid(in collection: CollectionSchema, current: RecordView, said: (String, String?) -> Bool) throws {
        // Every unsaid field, even one that reads null here: a concurrent
        // edit of the old record then conflicts with the re-creation instead
        // of carrying over into the new record unseen.
        for field in collection.fields where !field.isSet && !said(field.name, nil) {
            try write(SlotKey(collection: collection.name, record: current.ref.id, field: field.name), .null)
        }
        for (field, members) in current.members {
            for (member, present) in members where present && !said(field.string, member.string) {
                try write(SlotKey(collection: collection.name, record: current.ref.id, field: field.string, element: member.string), .bool(false))
            }
        }
    }

    /// Writes `value` over whatever this replica holds for the slot.
    func write(_ key: SlotKey, _ value: Value) throws {
        if case .text(let text) = value {
            if text.utf8.count > maxTextBytes { throw StoreError.valueTooLarge(key, bytes: text.utf8.count, limit: maxTextBytes) }
            // SQLite's C text API ends a string at NUL: the view tables, `list`
            // and exports would show another value than the one replicated.
            if UTF8Identity.containsNUL(text) {
                throw StoreError.invalidEdit("the value for \(key) contains a NUL character (U+0000), which cannot be stored: remove it and try again.")
            }
        }
        let state = try writer.load(key)
        let version = Version(dot: dot, hlc: hlc, author: author, value: value)
        try writer.store(key, state: SlotMerge.write(version, over: state), newVersions: [version], echo: nil)
    }
}
