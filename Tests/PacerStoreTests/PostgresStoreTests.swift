import Foundation
import PacerCore
@testable import PacerPostgres
import PacerStorage
import PacerTestSupport
import PostgresNIO
import Synchronization
import Testing

/// PostgreSQL specifics: the server's clock, migrations under concurrent starts, and the connection URL.
@Suite struct PostgresStoreTests {
    /// The server ends the session between two statements of a transaction (a restart, `pg_terminate_backend`):
    /// the next statement fails at once. It used to wait forever: written on a connection NIO had already torn
    /// down, it was never answered, and the reply deadline's close could not end the wait (`PostgresReply`).
    @Test func aStatementAfterTheServerEndedTheSessionFailsAtOnce() throws {
        let store = try PostgresStore(location: try TestPostgres.freshDatabase(), clock: .caller)
        let started = Date()
        #expect(throws: (any Error).self) {
            try store.transaction { tx in
                let pid = try #require(try tx.value("SELECT pg_backend_pid()", as: Int32.self))
                _ = try store.rows("SELECT pg_terminate_backend(\(pid))") // from another connection
                usleep(300_000) // NIO sees the session end and tears the connection down
                try tx.execute("SELECT 1")
            }
        }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try store.accounts().isEmpty, "the next call connects again")
    }

    /// A server that accepts the connection and then says nothing (restarting, or across a partition from the
    /// start) is given up on within the connect timeout: postgres-nio's `connectTimeout` covers the start-up
    /// handshake too, so opening a store never waits on a silent server for longer than `connect_timeout`.
    @Test func aServerThatAcceptsAndSaysNothingIsGivenUpOn() throws {
        var location = try TestPostgres.freshDatabase()
        let proxy = try SilentProxy(to: location.port)
        defer { proxy.stop() }
        proxy.silence()
        location.port = proxy.port
        location.connectTimeoutSeconds = 1
        let started = Date()
        #expect {
            _ = try PostgresStore(location: location)
        } throws: { error in
            "\(error)".contains("cannot connect to PostgreSQL")
        }
        #expect(Date().timeIntervalSince(started) < 8)
    }

    static func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// A queue's statistics describe the moment ANALYZE ran: here, no call in flight. Marking a few of a runner's
    /// 2,000 leased calls dispatched must still find them by id, not walk the index of leased calls through all
    /// of them (which `lease_owner = ... AND state = 'in_flight'` let the planner do: 5 s of a 17 s run).
    @Test func callsAreMarkedDispatchedByTheirIds() throws {
        let store = try PostgresStore(location: try TestPostgres.freshDatabase(), clock: .caller)
        try store.addAccount(StoreConformance.account("a"), replace: false, nowMilliseconds: 1)
        _ = try store.enqueue([RunToEnqueue(run: StoreConformance.run("j", "a"), produceCalls: StoreConformance.calls(2_000))])
        try store.transaction { tx in try tx.execute("ANALYZE calls") }
        try store.registerRunner(RunnerIdentity(id: "r", host: "h", pid: 1), now: { 1 })
        let claimed = try store.claim(account: "a", runner: "r", nowMilliseconds: 1, leaseUntil: 30_001, max: 2_000)
        #expect(claimed.count == 2_000)
        let some = claimed.prefix(10).map(\.id)
        let plan = try store.transaction { tx in
            let query = PostgresLimiterRows.markDispatchedQuery(some, runner: "r", at: 5)
            return try tx.rows(PostgresQuery(unsafeSQL: "EXPLAIN " + query.sql, binds: query.binds))
                .map { try $0[0].decode(String.self) }.joined(separator: "\n")
        }
        #expect(plan.contains("calls_pkey"), "\(plan)")
        #expect(!plan.contains("calls_leased"), "\(plan)")
        let marked = try store.transaction { tx in
            try PostgresLimiterRows(tx: tx).markDispatched(some + [claimed.last!.id], runner: "r", at: 5)
        }
        #expect(marked == Set(some + [claimed.last!.id]))
        let others = try store.transaction { tx in
            try PostgresLimiterRows(tx: tx).markDispatched(some, runner: "someone else", at: 5)
        }
        #expect(others.isEmpty, "another runner's lease is not marked")
    }

    /// With the database clock (what `pacer` uses), a runner's idea of the time does not matter: registration and
    /// spends are stamped with the server's clock.
    @Test func spendsAreStampedWithTheServersClock() throws {
        let store = try PostgresStore(location: try TestPostgres.freshDatabase(), clock: .database)
        try store.addAccount(StoreConformance.account("a"), replace: false, nowMilliseconds: 1)
        _ = try store.enqueue([RunToEnqueue(run: StoreConformance.run("j", "a"), produceCalls: StoreConformance.calls(2))])
        let skewed: () -> Int64 = { 1_000 } // a runner whose clock is badly wrong
        let registered = try store.registerRunner(RunnerIdentity(id: "r", host: "h", pid: 1), now: skewed)
        #expect(abs(registered - Self.nowMilliseconds()) < 5_000, "registered at \(registered)")
        let claimed = try store.claim(account: "a", runner: "r", nowMilliseconds: 1_000, leaseUntil: 31_000, max: 10)
        #expect(claimed.count == 2, "due calls are judged on the server's clock too")
        let grant = try store.spend(account: "a", calls: claimed.map { ($0.id, 1) }, runner: "r", now: skewed,
                                    windowMilliseconds: 1_000, configuredCount: 50)
        #expect(grant.granted.count == 2)
        #expect(abs(grant.at - Self.nowMilliseconds()) < 5_000, "spent at \(grant.at)")
        // The lease the runner asked for (30 s from its "now") is kept as 30 s from the server's.
        let lease = try store.read { tx in try tx.value("SELECT MIN(lease_expires_at) FROM calls", as: Int64.self) }
        #expect(abs((lease ?? 0) - grant.at - 30_000) < 5_000)
    }

    /// An answer stamped later than the server's now (a runner whose clock is ahead and not yet corrected) is
    /// taken as arriving now: its token returns a window from now, not from a future instant... nor earlier.
    @Test func answersAreNeverSettledInTheFuture() throws {
        let store = try PostgresStore(location: try TestPostgres.freshDatabase(), clock: .database)
        try store.addAccount(StoreConformance.account("a"), replace: false, nowMilliseconds: 1)
        _ = try store.enqueue([RunToEnqueue(run: StoreConformance.run("j", "a"), produceCalls: StoreConformance.calls(1))])
        try store.registerRunner(RunnerIdentity(id: "r", host: "h", pid: 1), now: { 0 })
        let call = try #require(try store.claim(account: "a", runner: "r", nowMilliseconds: 0, leaseUntil: 30_000, max: 1).first)
        let grant = try store.spend(account: "a", calls: [(call.id, 1)], runner: "r", now: { 0 },
                                    windowMilliseconds: 1_000, configuredCount: 50)
        let future = Self.nowMilliseconds() + 3_600_000
        try store.complete([Completion(call: call.id, runner: "r", startedAt: future, latencyMilliseconds: 10,
                                       httpStatus: 200, code: "200000", classification: "ok", message: nil,
                                       state: .succeeded, attempts: 1, nextAttemptAt: 0, data: nil, error: nil,
                                       finishedAt: future)])
        let settled = try #require(try store.read { tx in try tx.value("SELECT at FROM limiter_spends", as: Int64.self) })
        #expect(settled >= grant.at && settled - Self.nowMilliseconds() < 5_000, "settled \(settled - grant.at) ms after the spend")
    }

    /// A late success that waited for a recovery's lock on its call still finds what recovery wrote: the call
    /// left `uncertain` (and its result) committed while the answer waited takes the answer as its outcome. A
    /// result read in the statement that waited would be the one from before the wait (READ COMMITTED).
    @Test func aLateSuccessThatWaitedForRecoveryStillSettlesTheCall() throws {
        let store = try PostgresStore(location: try TestPostgres.freshDatabase(), clock: .caller)
        try store.addAccount(StoreConformance.account("a"), replace: false, nowMilliseconds: 1)
        _ = try store.enqueue([RunToEnqueue(run: StoreConformance.run("j", "a"),
                                            produceCalls: StoreConformance.calls(1, idempotent: false))])
        try store.registerRunner(RunnerIdentity(id: "dead", host: "h", pid: 1), now: { 0 })
        let call = try #require(try store.claim(account: "a", runner: "dead", nowMilliseconds: 0, leaseUntil: 30_000, max: 1).first)
        let grant = try store.spend(account: "a", calls: [(call.id, 1)], runner: "dead", now: { 5 },
                                    windowMilliseconds: 1_000, configuredCount: 50)
        // Two threads of their own (the store blocks), each with a connection of its own.
        let recovered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let recoveryDone = DispatchSemaphore(value: 0), answerDone = DispatchSemaphore(value: 0)
        let failures = Mutex<[String]>([])
        // Recovery, held open once it has written, until the late answer waits for its lock (at most 10 s).
        Thread.detachNewThread {
            do {
                try store.callTransaction { rows in
                    _ = try rows.deleteRunners(try rows.runners())
                    let effects = try rows.orphanedCalls().map { CallRules.recover($0, now: 6_000) }
                    try rows.writeCalls(effects.compactMap(\.row))
                    try rows.writeResults(effects.compactMap(\.result))
                    recovered.signal()
                    _ = release.wait(timeout: .now() + 10)
                }
            } catch { failures.withLock { $0.append("recovery: \(error)") } }
            recoveryDone.signal()
        }
        #expect(recovered.wait(timeout: .now() + 10) == .success)
        Thread.detachNewThread {
            do {
                try store.complete([Completion(call: call.id, runner: "dead", startedAt: 5, latencyMilliseconds: 6_100,
                                               httpStatus: 200, code: "200000", classification: "ok", message: nil,
                                               state: .succeeded, attempts: 1, nextAttemptAt: 0, data: "{}", error: nil,
                                               finishedAt: 6_105, dispatchedAt: grant.at)])
            } catch { failures.withLock { $0.append("answer: \(error)") } }
            answerDone.signal()
        }
        let other = try PostgresStore(location: store.location, clock: .caller)
        var waiting = false
        for _ in 0..<200 where !waiting { // at most 10 s
            waiting = try other.read { tx in
                try tx.value("""
                    SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
                    """, as: Int.self) ?? 0
            } > 0
            if !waiting { usleep(50_000) }
        }
        #expect(waiting, "the answer waits for the recovery's lock")
        release.signal()
        #expect(recoveryDone.wait(timeout: .now() + 10) == .success && answerDone.wait(timeout: .now() + 10) == .success)
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let detail = try #require(try store.callDetail(call.id))
        #expect(detail.record.state == .succeeded, "\(detail.record)")
    }

    /// A claim whose COMMIT reply is lost (it committed) and whose give-back fails too (the network still down)
    /// leaves its calls leased to a live runner that does not know it holds them: they are owed, and given back
    /// at the runner's next claim, which then gets them.
    @Test func callsOfAClaimWhoseCommitReplyWasLostComeBack() throws {
        let store = try PostgresStore(location: try TestPostgres.freshDatabase(), clock: .caller)
        try store.addAccount(StoreConformance.account("a"), replace: false, nowMilliseconds: 1)
        _ = try store.enqueue([RunToEnqueue(run: StoreConformance.run("j", "a"), produceCalls: StoreConformance.calls(3))])
        try store.registerRunner(RunnerIdentity(id: "r", host: "h", pid: 1), now: { 0 })
        store.faults.loseCommitReplies(1, thenRefuse: 1)
        #expect(throws: StoreError.self) {
            _ = try store.claim(account: "a", runner: "r", nowMilliseconds: 0, leaseUntil: 30_000, max: 10)
        }
        let leased = try store.read { tx in
            try tx.value("SELECT COUNT(*) FROM calls WHERE state = 'in_flight' AND lease_owner = 'r'", as: Int.self)
        }
        #expect(leased == 3, "the claim did commit")
        let again = try store.claim(account: "a", runner: "r", nowMilliseconds: 10, leaseUntil: 30_000, max: 10)
        #expect(again.count == 3, "given back, then claimed by the runner that now knows it holds them")
    }

    /// An enqueue whose COMMIT reply is lost asks, on a new connection, whether its runs landed: they did, so
    /// it reports them (running it again would queue them twice). When the database cannot say, the error says
    /// so and names what to check.
    @Test func anEnqueueWhoseCommitReplyWasLostKnowsWhetherItLanded() throws {
        let store = try PostgresStore(location: try TestPostgres.freshDatabase(), clock: .caller)
        try store.addAccount(StoreConformance.account("a"), replace: false, nowMilliseconds: 1)
        func enqueue() throws -> [EnqueuedRun] {
            try store.enqueue([RunToEnqueue(run: StoreConformance.run("j", "a"), produceCalls: StoreConformance.calls(5))])
        }
        store.faults.loseCommitReplies(1)
        let landed = try enqueue()
        #expect(landed.count == 1 && landed.first?.calls == 5 && landed.first?.skipped == false)
        #expect(try store.status().runs.map(\.total) == [5])
        store.faults.loseCommitReplies(1, thenRefuse: 3) // each of its three looks
        let error = #expect(throws: StoreError.self) { _ = try enqueue() }
        #expect(error?.message.contains("did not confirm whether the enqueue landed") == true, "\(String(describing: error))")
        #expect(try store.status().runs.count == 2, "it had landed")
    }

    /// Several processes opening a new database at once: one applies the schema, the others wait and use it.
    @Test func concurrentStartsMigrateOnce() async throws {
        let location = try TestPostgres.freshDatabase()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { _ = try PostgresStore(location: location, clock: .caller) }
            }
            try await group.waitForAll()
        }
        let store = try PostgresStore(location: location, clock: .caller)
        let applied = try store.read { tx in try tx.rows("SELECT name FROM pacer_migrations").map { try $0.get("name", as: String.self) } }
        #expect(applied == PostgresMigrations.all.map(\.name))
    }

    @Test func aNewerSchemaIsRefused() throws {
        let location = try TestPostgres.freshDatabase()
        let store = try PostgresStore(location: location, clock: .caller)
        try store.transaction { tx in try tx.execute("INSERT INTO pacer_migrations VALUES ('9999_future', 0)") }
        let error = #expect(throws: StoreError.self) { _ = try PostgresStore(location: location, clock: .caller) }
        #expect(error?.kind == .newerSchema)
        #expect(error?.message.contains("its schema is at migration 9999_future") == true)
        #expect(error?.message.contains("this pacer's schema ends at \(PostgresMigrations.all.last!.name)") == true)
    }

    @Test func embeddedMigrationsMatchTheFiles() throws {
        let dir = repositoryRoot.appendingPathComponent("migrations/postgres")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.map { String($0.dropLast(4)) } == PostgresMigrations.all.map(\.name))
        for (file, embedded) in zip(files, PostgresMigrations.all) {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            #expect(text.trimmingCharacters(in: .newlines) == embedded.sql.trimmingCharacters(in: .newlines),
                    "\(file) differs from its embedded copy: run scripts/embed-migrations.sh")
        }
    }

    @Test func anUnreachableServerIsSaidPlainly() throws {
        let error = #expect(throws: StoreError.self) {
            _ = try PostgresStore(url: "postgres://pacer@127.0.0.1:1/nothing?sslmode=disable")
        }
        #expect(error?.message.contains("cannot connect to PostgreSQL postgres://pacer@127.0.0.1:1/nothing") == true,
                "\(error?.message ?? "")")
    }
}

/// The connection URL, as libpq users write it.
@Suite struct PostgresLocationTests {
    @Test func urlsAreReadLikeLibpqs() throws {
        let full = try PostgresLocation(url: "postgres://ops@db.internal:6543/pacer?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(full.host == "db.internal" && full.port == 6543 && full.user == "ops" && full.database == "pacer")
        #expect(full.sslMode == "verify-full" && full.sslRootCert == "/etc/ca.pem")
        let named = try PostgresLocation(url: "postgres://ops@db/pacer?application_name=cron-host-3&connect_timeout=4")
        #expect(named.applicationName == "cron-host-3" && named.connectTimeoutSeconds == 4)
        #expect(try PostgresLocation(url: named.url) == named)
        #expect(throws: StoreError.self) { _ = try PostgresLocation(url: "postgres://ops@db/pacer?connect_timeout=soon") }
        let pooled = try PostgresLocation(url: "postgres://ops@pgbouncer:6432/pacer?pooler=transaction")
        #expect(pooled.transactionPooler && !named.transactionPooler)
        #expect(try PostgresLocation(url: pooled.url) == pooled)
        #expect(throws: StoreError.self) { _ = try PostgresLocation(url: "postgres://ops@db/pacer?pooler=statement") }
        let short = try PostgresLocation(url: "postgresql://ops@db.internal/pacer")
        #expect(short.port == 5432 && short.sslMode == "prefer")
        #expect(try PostgresLocation(url: short.url) == short)
    }

    @Test func badURLsAreRefusedWithReasons() {
        let password = #expect(throws: StoreError.self) { _ = try PostgresLocation(url: "postgres://ops:hunter2@db/pacer") }
        #expect(password?.message.contains("PGPASSWORD") == true)
        #expect(password?.message.contains("hunter2") == false, "the password is never repeated")
        let option = #expect(throws: StoreError.self) { _ = try PostgresLocation(url: "postgres://ops@db/pacer?sslmod=require") }
        #expect(option?.message.contains("sslmod") == true)
        let mode = #expect(throws: StoreError.self) { _ = try PostgresLocation(url: "postgres://ops@db/pacer?sslmode=always") }
        #expect(mode?.message.contains("sslmode 'always'") == true)
        #expect(!PostgresLocation.isURL("./pacer.sqlite"))
    }

    @Test func thePasswordComesFromTheEnvironmentOrAPrivatePgpass() throws {
        let dir = TempDir()
        let location = try PostgresLocation(url: "postgres://ops@db.internal:6543/pacer")
        #expect(try location.password(environment: ["PGPASSWORD": "from-env"]) == "from-env")
        let file = dir.write("pgpass", "# comment\nother:5432:*:ops:nope\ndb.internal:6543:*:ops:pa\\:ss\n*:*:*:*:fallback\n")
        chmod(file, 0o600)
        #expect(try location.password(environment: ["PGPASSFILE": file]) == "pa:ss")
        chmod(file, 0o644)
        let open = #expect(throws: StoreError.self) { _ = try location.password(environment: ["PGPASSFILE": file]) }
        #expect(open?.message.contains("chmod 600") == true)
        #expect(try location.password(environment: ["PGPASSFILE": dir.url.appendingPathComponent("none").path]) == nil)
    }
}

