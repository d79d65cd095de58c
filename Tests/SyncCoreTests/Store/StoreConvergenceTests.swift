import Foundation
import PropertyBased
import Testing
@testable import SyncCore
import TestSupport

/// Random edits through the store API on 3–5 replicas (real SQLite files),
/// synced pairwise at random with small batches and stale cursors replayed:
/// all end with the same digest, the same views and the same conflicts.
@Suite("Store convergence", .serialized, .timeLimit(.minutes(3)))
struct StoreConvergenceTests {
    static let records = ["countries/aa", "countries/bb", "agreements/x1"]

    static func edit(_ store: Store, op: Int) {
        let target = ref(records[op / 10 % records.count])
        let author = "analyst\(op % 3)"
        do {
            switch (op / 100) % 6 {
            case 0:
                if target.collection == "countries" {
                    try store.create(target, [.set("name", .text("N\(op % 4)"))], author: author)
                } else {
                    try store.create(target, [.set("title", .text("T\(op % 4)")), .add("parties", "countries/aa")], author: author)
                }
            case 1:
                try store.delete(target, author: author)
            case 2, 3:
                let field = target.collection == "countries" ? "notes" : "summary"
                try store.update(target, [.set(field, .text("v\(op % 3)"))], author: author)
            case 4:
                if target.collection == "agreements" { try store.update(target, [.add("parties", "countries/bb")], author: author) }
            default:
                if target.collection == "agreements" { try store.update(target, [.remove("parties", "countries/aa")], author: author) }
            }
        } catch {
            // Refusals (missing record, existence in conflict) are part of the workload.
        }
    }

    /// A record view in a comparable, order-independent form.
    static func reading(_ view: RecordView) -> String {
        let scalars = view.scalars.keys.sorted().map { "\($0)=\(view.scalars[$0]!)" }
        let members = view.members.keys.sorted().map { "\($0)=\(view.members[$0]!.sorted { $0.key < $1.key })" }
        return "\(view.existence) \(scalars) \(members)"
    }

    @Test func randomEditsAndSyncsConverge() async throws {
        await propertyCheck(count: 25, input: Gen.int(in: 3...5), Gen.int(in: 0...100_000).array(of: 5...40)) { count, ops in
            let dir = TemporaryDirectory()
            let stores = (0..<count).map { try! dir.store("r\($0).db") }
            for (index, op) in ops.enumerated() {
                let store = stores[op % count]
                if op % 4 == 0 {
                    let other = stores[(op / 7) % count]
                    if other !== store { try! pull(into: store, from: other, batchSize: 1 + op % 7) }
                } else if op % 9 == 1 {
                    // Replay an old batch from cursor 0: duplicates change nothing.
                    let other = stores[(op / 7) % count]
                    if other !== store {
                        let batch = try! other.changes(since: 0, maxCount: 5, maxBytes: 1 << 20)
                        try! store.apply(batch.changes, from: nil)
                    }
                } else {
                    Self.edit(store, op: op + index)
                }
            }
            try! fullSync(stores, batchSize: 3)
            let digests = Set(stores.map { try! $0.digest() })
            #expect(digests.count == 1)
            let views = stores.map { store in Self.records.map { try! store.record(ref($0)).map(Self.reading) } }
            #expect(Set(views).count == 1)
            let conflicts = stores.map { try! $0.conflicts().map(\.key) }
            #expect(Set(conflicts).count == 1)
        }
    }
}
