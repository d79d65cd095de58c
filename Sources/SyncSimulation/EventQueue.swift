/// The simulator's scheduler: events in order of time, then of scheduling
/// (a stable order, so a seed replays exactly). One thread, virtual time.
struct EventQueue<Event> {
    private var heap: [(at: UInt64, order: UInt64, event: Event)] = []
    private var scheduled: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    var nextTime: UInt64? { heap.first?.at }

    mutating func schedule(_ event: Event, at time: UInt64) {
        scheduled += 1
        heap.append((time, scheduled, event))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (at: UInt64, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var first = parent
            if left < heap.count, Self.before(heap[left], heap[first]) { first = left }
            if right < heap.count, Self.before(heap[right], heap[first]) { first = right }
            guard first != parent else { break }
            heap.swapAt(parent, first)
            parent = first
        }
        return (top.at, top.event)
    }

    private static func before(_ a: (at: UInt64, order: UInt64, event: Event), _ b: (at: UInt64, order: UInt64, event: Event)) -> Bool {
        a.at != b.at ? a.at < b.at : a.order < b.order
    }
}
