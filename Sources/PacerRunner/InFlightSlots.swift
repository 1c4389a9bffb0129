/// Bounds the requests in flight across all accounts (`--concurrency`). Waiters are served in arrival order, so
/// accounts take turns when slots are scarce.
actor InFlightSlots {
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = max(1, count) }

    /// Waits for at least one slot, then takes as many as are free, up to `wanted`.
    func acquire(upTo wanted: Int) async -> Int {
        if free == 0 { await withCheckedContinuation { waiters.append($0) } } else { free -= 1 }
        var taken = 1
        while taken < wanted && free > 0 { free -= 1; taken += 1 }
        return taken
    }

    func release(_ count: Int = 1) {
        for _ in 0..<count {
            if waiters.isEmpty { free += 1 } else { waiters.removeFirst().resume() }
        }
    }
}
