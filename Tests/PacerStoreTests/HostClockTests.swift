import Foundation
import PacerCore
import PacerTestSupport
import Synchronization
import Testing
@testable import PacerStorage
@testable import PacerSQLite

/// The SQLite store's clock (`HostClock`), on injected boot and wall clocks: one timeline per boot of the host,
/// shared by every process, that a step of the wall clock does not move.
@Suite struct HostClockTests {
    /// A host whose clocks the test sets.
    final class FakeHost: Sendable {
        let state = Mutex((boot: "boot-1", bootMilliseconds: Int64(5_000), wall: Int64(1_800_000_000_000)))
        var clock: HostClock {
            HostClock(bootID: state.withLock { $0.boot }, bootMilliseconds: { self.state.withLock { $0.bootMilliseconds } },
                      wallMilliseconds: { self.state.withLock { $0.wall } })
        }
        func advance(_ milliseconds: Int64) {
            state.withLock { $0.bootMilliseconds += milliseconds; $0.wall += milliseconds }
        }
    }

    static func now(_ store: SQLiteStore) throws -> Int64 {
        try store.limiterTransaction(accounts: [], runner: nil, access: .read) { rows in try rows.now { 0 } }
    }

    /// Table: what the store reads as "now" after each thing that happens to the host.
    @Test func oneTimelinePerBootThatWallStepsDoNotMove() throws {
        let dir = TempDir(), path = dir.url.appendingPathComponent("pacer.sqlite").path
        let host = FakeHost()
        let first = try SQLiteStore(path: path, clock: .host(host.clock))
        let start: Int64 = 1_800_000_000_000
        #expect(try Self.now(first) == start, "a new boot's timeline starts at wall time")
        host.advance(1_500)
        #expect(try Self.now(first) == start + 1_500)

        host.state.withLock { $0.wall += 3_600_000 } // NTP steps the wall clock an hour forward
        #expect(try Self.now(first) == start + 1_500, "a forward step does not move it")
        host.state.withLock { $0.wall -= 3_620_000 } // and then 20 s back
        host.advance(500)
        #expect(try Self.now(first) == start + 2_000, "a backward step does not either")

        // Another process opening the database on the same boot reads the same clock, whatever its wall says.
        let second = try SQLiteStore(path: path, clock: .host(host.clock))
        #expect(try Self.now(second) == start + 2_000)
        #expect(try Self.now(first) == Self.now(second))
        let manual = try SQLiteStore(path: path, clock: .caller)
        #expect(keepsItsOwnClock(second) && !keepsItsOwnClock(manual))
        #expect(try Self.now(manual) == 0, "with `.caller`, the caller's instant")
    }

    /// A reboot is recognised by its id: the timeline starts again at wall time, but never before the latest spend
    /// or heartbeat (a host that comes back with its clock behind must not see the last window in the future).
    @Test func aRebootStartsANewTimelineNotBehindTheLastSpend() throws {
        let dir = TempDir(), path = dir.url.appendingPathComponent("pacer.sqlite").path
        let host = FakeHost()
        let before = try SQLiteStore(path: path, clock: .host(host.clock))
        let lastSpend = try before.limiterTransaction(accounts: ["a"], runner: nil, access: .write) { rows in
            let at = try rows.now { 0 }
            _ = try rows.insertSpend(NewSpend(pool: "a", call: nil, at: at, weight: 1, open: false, owner: nil, sentAt: at))
            return at
        }

        // Reboot: boot time starts again from zero; the wall clock came back 30 s behind the last spend.
        host.state.withLock { $0 = (boot: "boot-2", bootMilliseconds: 2_000, wall: lastSpend - 30_000) }
        let after = try SQLiteStore(path: path, clock: .host(host.clock))
        #expect(try Self.now(after) == lastSpend + 1)
        host.advance(1_000)
        #expect(try Self.now(after) == lastSpend + 1_001)

        // A runner's heartbeat marks the latest instant of a boot, though spends are trimmed: the next boot,
        // its wall clock behind again, starts after it.
        host.advance(60_000)
        let runner = RunnerIdentity(id: "r", host: "h", pid: 1)
        try after.registerRunner(runner, now: { 0 })
        let beat = try #require(try after.heartbeat(runner: "r", now: { 0 }, leaseMilliseconds: 1_000))
        #expect(beat == lastSpend + 61_001)
        host.state.withLock { $0 = (boot: "boot-3", bootMilliseconds: 1_000, wall: lastSpend) }
        #expect(try Self.now(try SQLiteStore(path: path, clock: .host(host.clock))) == beat + 1)

        // The next boot with a sane clock starts at wall time.
        host.state.withLock { $0 = (boot: "boot-4", bootMilliseconds: 9_000, wall: lastSpend + 3_600_000) }
        #expect(try Self.now(try SQLiteStore(path: path, clock: .host(host.clock))) == lastSpend + 3_600_000)
    }

    /// After the wall clock stepped an hour forward, a run that just ended (on the store's clock, an hour behind
    /// the wall) is not "older than 10 minutes" for `prune`, which is given wall time.
    @Test func pruneReadsEndsOnTheStoresClock() throws {
        let dir = TempDir(), path = dir.url.appendingPathComponent("pacer.sqlite").path
        let host = FakeHost()
        let store = try SQLiteStore(path: path, clock: .host(host.clock))
        host.state.withLock { $0.wall += 3_600_000 }
        let wall = host.state.withLock { $0.wall }
        try store.addAccount(Account(name: "a", provider: .kookeey, baseURL: "http://127.0.0.1:1",
                                     limit: RateLimit(count: 5, windowMilliseconds: 1_000),
                                     credentials: CredentialReferences(key: "k", secretEnv: "S")),
                             replace: false, nowMilliseconds: wall)
        let run = try store.enqueue([RunToEnqueue(run: NewRun(job: "j", account: "a", jobFile: "j.yaml", retry: .default,
                                                              createdAtMilliseconds: wall)) { emit in
            try emit(NewCall(index: 0, method: .get, path: "/x", params: "{}", body: nil, weight: 1, idempotent: true))
        }])[0].run
        #expect(try store.cancel(run: run, nowMilliseconds: wall).calls == 1)
        #expect(try store.prune(finishedBefore: wall - 600_000).runs == 0, "it ended just now")
        host.advance(600_001)
        #expect(try store.prune(finishedBefore: host.state.withLock { $0.wall } - 600_000).runs == 1)
    }

    func keepsItsOwnClock(_ store: any PacerStore) -> Bool { store.keepsItsOwnClock }
}
