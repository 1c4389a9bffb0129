import Testing
@testable import PacerCore

@Suite struct HeartbeatWatchTests {
    /// Each step is (our time, the other runner's heartbeat value we read) and whether it is judged dead.
    @Test(arguments: [
        // A runner that stopped: its heartbeat stays at 0 while we look every second.
        ("stopped", [(Int64(0), Int64(0), false), (1_000, 0, false), (2_000, 0, false), (3_000, 0, false),
                     (4_000, 0, false), (5_000, 0, true)]),
        // Alive: the value moves on every look.
        ("alive", [(0, 0, false), (1_000, 1_000, false), (6_000, 6_000, false), (7_000, 7_000, false)]),
        // A write lock held for 20 s: our first look after it finds the old value (20 s stale by the clock), but
        // it is only one look; the other runner, queued behind the same lock, has written before our next one.
        ("lock wait", [(0, 0, false), (20_000, 0, false), (21_000, 20_010, false), (22_000, 21_000, false)]),
        // We were paused for 8 s: the other runner kept beating, so nothing is stale to us.
        ("we slept", [(0, 0, false), (8_000, 7_900, false), (9_000, 8_900, false)]),
        // It was paused for 8 s, then beat again: judged dead during the pause (looks every second).
        ("it slept", [(0, 0, false), (1_000, 0, false), (2_000, 0, false), (3_000, 0, false), (4_000, 0, false),
                      (5_000, 0, true)]),
        // First seen already old (it died before we started): still needs our own looks over the threshold.
        ("old row", [(100_000, 0, false), (101_000, 0, false), (102_000, 0, false), (103_000, 0, false),
                     (104_000, 0, false), (105_000, 0, true)]),
        // Looks before a long lock wait do not count after it: two still looks, then the lock (1.1 s - 20 s);
        // our first look after it starts afresh, and the other runner beats before the threshold passes again.
        ("looks before a lock", [(0, 0, false), (1_000, 0, false), (20_000, 0, false), (21_000, 20_500, false),
                                 (22_000, 21_500, false)]),
        // Everyone was frozen together (a process group stopped): the first to wake condemns nobody.
        ("all frozen", [(0, 0, false), (1_000, 1_000, false), (60_000, 1_000, false), (61_000, 60_900, false)]),
    ] as [(String, [(Int64, Int64, Bool)])])
    func judgements(name: String, steps: [(Int64, Int64, Bool)]) {
        var watch = HeartbeatWatch(staleAfterMilliseconds: 5_000)
        for (now, beat, dead) in steps {
            watch.beginLook(now: now)
            #expect(watch.isDead("r", heartbeat: beat, now: now) == dead, "\(name) at \(now)")
        }
    }

    @Test func forgetsRunnersThatAreGone() {
        var watch = HeartbeatWatch(staleAfterMilliseconds: 5_000)
        _ = watch.isDead("a", heartbeat: 0, now: 0)
        _ = watch.isDead("b", heartbeat: 0, now: 0)
        watch.keepOnly(["b"])
        #expect(watch.watched == 1)
    }
}
