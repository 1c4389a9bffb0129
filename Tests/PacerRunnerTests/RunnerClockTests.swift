import Foundation
import PacerCore
import PacerSQLite
import PacerStorage
import PacerTestSupport
import Synchronization
import Testing
@testable import PacerRunner

/// The runner's waits on its injected clock (`ManualRunnerClock`): no test here sleeps on the wall clock.
@Suite struct RunnerClockTests {
    /// Never released (an HTTP client must be shut down before it goes); these tests send nothing.
    static let transport = HTTPTransport()

    static func runner(_ clock: ManualRunnerClock, stale: Int64 = 10_000) throws -> (Runner, TempDir) {
        let dir = TempDir()
        let store = try SQLiteStore(path: dir.url.appendingPathComponent("pacer.db").path)
        var options = RunnerOptions()
        options.staleAfterMilliseconds = stale
        return (Runner(store: store, transport: transport, options: options, clock: clock), dir)
    }

    /// A pause lasts its length on the monotonic face: a wall clock stepped back 20 s does not stretch it, and
    /// one stepped forward an hour does not cut it short.
    @Test func aPauseIsTimedOnTheMonotonicFace() async throws {
        let clock = ManualRunnerClock()
        let (runner, _) = try Self.runner(clock)
        let paused = Task { try await runner.pause(milliseconds: 1_000, bells: []) { false } }
        #expect(await clock.settle())
        clock.stepWall(milliseconds: -20_000)
        clock.advance(milliseconds: 600)
        clock.stepWall(milliseconds: 3_600_000)
        #expect(await clock.settle(), "still pausing after 600 ms, whatever the wall clock did")
        clock.advance(milliseconds: 400)
        try await paused.value
        #expect(clock.sleepers == 0)
    }

    /// A pause ends early when one of its bells rings and its condition then says so (a stop, a probe's
    /// answer), with no time passing; a ring whose condition does not hold keeps it pausing.
    @Test func aPauseEndsWhenItsBellRings() async throws {
        let clock = ManualRunnerClock()
        let (runner, _) = try Self.runner(clock)
        let stop = ManualFlag(), ended = ManualFlag(), bell = Doorbell()
        let paused = Task {
            try await runner.pause(milliseconds: 60_000, bells: [bell]) { stop.isSet }
            ended.set()
        }
        #expect(await clock.settle())
        bell.ring()
        for _ in 0..<1_000 { await Task.yield() }
        #expect(await clock.settle())
        #expect(!ended.isSet, "rung, but not interrupted: still pausing")
        stop.set()
        bell.ring()
        try await paused.value
        #expect(clock.sleepers == 0, "its timer is gone with it")
    }

    /// A pause whose task is cancelled throws at once, whether its timer or its bell wait sees the cancel first.
    @Test func aCancelledPauseThrows() async throws {
        let clock = ManualRunnerClock()
        let (runner, _) = try Self.runner(clock)
        let bell = Doorbell()
        let paused = Task { try await runner.pause(milliseconds: 60_000, bells: [bell]) { false } }
        #expect(await clock.settle())
        paused.cancel()
        await #expect(throws: CancellationError.self) { try await paused.value }
    }

    /// A ring that comes between the condition's look and the wait is not missed.
    @Test func aRingBeforeTheWaitIsNotMissed() async throws {
        let bell = Doorbell()
        let seen = bell.rings
        bell.ring()
        await bell.wait(since: seen) // returns at once; a missed ring would hang here
        #expect(bell.rings == seen + 1)
    }

    /// The fence that keeps a paused process from sending after it was declared dead: a runner sends only while
    /// its latest heartbeat is younger than half the stale threshold, measured on the monotonic face (what the
    /// SIGSTOP test shows from outside, here without stopping a process).
    @Test func aRunnerWhoseBeatIsOldSendsNothing() async throws {
        let clock = ManualRunnerClock()
        let (runner, _) = try Self.runner(clock, stale: 10_000)
        let id = runner.identity.id
        try runner.store.registerRunner(runner.identity, now: clock.now)
        runner.noteBeat(clock.now(), mark: clock.monotonic())
        #expect(runner.maySend(as: id))
        clock.stepWall(milliseconds: -60_000) // a wall step changes nothing
        clock.advance(milliseconds: 5_000)
        #expect(runner.maySend(as: id), "exactly half the threshold")
        clock.advance(milliseconds: 1)
        #expect(!runner.maySend(as: id), "older than half the threshold: another runner may declare it dead")
        #expect(!runner.maySend(as: "someone-else"))
    }

    /// A step of the store's clock (PostgreSQL's server) seen between two heartbeats, beyond what the beats' own
    /// durations allow: the last beat read 10_000 between our instants 100 and 150; this one between 1_100 and
    /// `end`.
    @Test(arguments: [
        (at: Int64(11_000), end: Int64(1_120), step: Int64(0)),     // a second later on both clocks
        (at: 10_960, end: 1_120, step: 0),                          // within the beats' durations
        (at: 13_000, end: 1_120, step: 1_980),                      // two seconds ahead of anything possible
        (at: 10_100, end: 1_120, step: -850),                       // behind: less than elapsed since the last beat ended
        (at: 11_000, end: 4_000, step: 0),                          // a slow beat explains its own lateness
    ])
    func aStepOfTheStoresClockIsSeenAtTheNextBeat(_ row: (at: Int64, end: Int64, step: Int64)) {
        #expect(Runner.clockStep(row.at, readBetween: 1_100, and: row.end, last: (10_000, 100), lastBeatEnded: 150)
                == row.step)
    }

    /// An idle worker waits for a wake, or its backstop on the injected clock.
    @Test func anIdleWorkersBackstopRunsOnTheInjectedClock() async throws {
        let clock = ManualRunnerClock()
        let board = WakeBoard(clock: clock)
        let waiter = Task { await board.wait("a", timeoutMilliseconds: 60_000) }
        #expect(await clock.settle())
        #expect(await board.idleAccounts == ["a"])
        clock.advance(milliseconds: 59_999)
        #expect(await board.idleAccounts == ["a"])
        clock.advance(milliseconds: 1)
        await waiter.value
        #expect(await board.idleAccounts.isEmpty)
        // A wake ends the wait at once and cancels its timer.
        let woken = Task { await board.wait("b", timeoutMilliseconds: 60_000) }
        #expect(await clock.settle())
        await board.wake("b")
        await woken.value
        for _ in 0..<1_000 where clock.sleepers > 0 { await Task.yield() }
        #expect(clock.sleepers == 0, "the backstop's timer went with the wait")
    }
}

/// A flag a test sets and a waiting task reads.
final class ManualFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
