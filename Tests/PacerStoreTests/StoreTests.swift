import Synchronization
import Foundation
import GRDB
import PacerCore
import PacerTestSupport
import Testing
@testable import PacerStorage
@testable import PacerSQLite

/// The conformance suite, run against every store: SQLite (the embedded default) and PostgreSQL (the throwaway
/// server `scripts/with-postgres.sh` starts, or the one `PACER_TEST_POSTGRES` names).
@Suite struct StoreConformanceTests {
    static let kinds = TestDatabase.allCases
    let dir = TempDir()

    @Test(arguments: kinds) func accountsRoundTrip(_ kind: TestDatabase) throws { try kind.conformance(dir).accountsRoundTrip() }
    @Test(arguments: kinds) func accountsInBulkAndHistory(_ kind: TestDatabase) throws { try kind.conformance(dir).accountsInBulkAndHistory() }
    @Test(arguments: kinds) func enqueueCountsAndStatus(_ kind: TestDatabase) throws { try kind.conformance(dir).enqueueCountsAndStatus() }
    @Test(arguments: kinds) func enqueueIsAllOrNothing(_ kind: TestDatabase) throws { try kind.conformance(dir).enqueueIsAllOrNothing() }
    @Test(arguments: kinds) func manyCallsKeepTheirOrder(_ kind: TestDatabase) throws { try kind.conformance(dir).manyCallsKeepTheirOrder() }
    @Test(arguments: kinds) func resultsInRunAndCallOrder(_ kind: TestDatabase) throws { try kind.conformance(dir).resultsInRunAndCallOrder() }
    @Test(arguments: kinds) func removingAnAccountWithRunsNeedsPurge(_ kind: TestDatabase) throws { try kind.conformance(dir).removingAnAccountWithRunsNeedsPurge() }
    @Test(arguments: kinds) func aRemovedAccountsSpendsHoldUntilTheirWindowPasses(_ kind: TestDatabase) throws { try kind.conformance(dir).aRemovedAccountsSpendsHoldUntilTheirWindowPasses() }
    @Test(arguments: kinds) func claimsAreExclusive(_ kind: TestDatabase) throws { try kind.conformance(dir).claimsAreExclusive() }
    @Test(arguments: kinds) func spendsRespectTheWindowAndLeases(_ kind: TestDatabase) throws { try kind.conformance(dir).spendsRespectTheWindowAndLeases() }
    @Test(arguments: kinds) func oneSpendServesSeveralAccounts(_ kind: TestDatabase) throws { try kind.conformance(dir).oneSpendServesSeveralAccounts() }
    @Test(arguments: kinds) func sharedPoolsAndAccountPools(_ kind: TestDatabase) throws { try kind.conformance(dir).sharedPoolsAndAccountPools() }
    @Test(arguments: kinds) func aSharedPoolHoldsAcrossAccounts(_ kind: TestDatabase) throws { try kind.conformance(dir).aSharedPoolHoldsAcrossAccounts() }
    @Test(arguments: kinds) func priorityCallsAreClaimedFirst(_ kind: TestDatabase) throws { try kind.conformance(dir).priorityCallsAreClaimedFirst() }
    @Test(arguments: kinds) func aRefusalIsChargedToTheFullestPool(_ kind: TestDatabase) throws { try kind.conformance(dir).aRefusalIsChargedToTheFullestPool() }
    @Test(arguments: kinds) func rateLimitsCoolTheAccountDown(_ kind: TestDatabase) throws { try kind.conformance(dir).rateLimitsCoolTheAccountDown() }
    @Test(arguments: kinds) func aCoolDownsProbeEndsIt(_ kind: TestDatabase) throws { try kind.conformance(dir).aCoolDownsProbeEndsIt() }
    @Test(arguments: kinds) func settledAnswersShowARefusalWasNoise(_ kind: TestDatabase) throws { try kind.conformance(dir).settledAnswersShowARefusalWasNoise() }
    @Test(arguments: kinds) func aRefusalsFillCountsBySend(_ kind: TestDatabase) throws { try kind.conformance(dir).aRefusalsFillCountsBySend() }
    @Test(arguments: kinds) func providerQuotasAreFollowed(_ kind: TestDatabase) throws { try kind.conformance(dir).providerQuotasAreFollowed() }
    @Test(arguments: kinds) func reservationsShareTheBucket(_ kind: TestDatabase) throws { try kind.conformance(dir).reservationsShareTheBucket() }
    @Test(arguments: kinds) func completionsMoveCallsOnAndKeepResults(_ kind: TestDatabase) throws { try kind.conformance(dir).completionsMoveCallsOnAndKeepResults() }
    @Test(arguments: kinds) func deadRunnersCallsAreRecovered(_ kind: TestDatabase) throws { try kind.conformance(dir).deadRunnersCallsAreRecovered() }
    @Test(arguments: kinds) func summariesCountCodesAndListFailures(_ kind: TestDatabase) throws { try kind.conformance(dir).summariesCountCodesAndListFailures() }
    @Test(arguments: kinds) func oneClaimServesSeveralAccounts(_ kind: TestDatabase) throws { try kind.conformance(dir).oneClaimServesSeveralAccounts() }
    @Test(arguments: kinds) func dueRetriesAreClaimedFirst(_ kind: TestDatabase) throws { try kind.conformance(dir).dueRetriesAreClaimedFirst() }
    @Test(arguments: kinds) func pausedAccountsAreNotClaimed(_ kind: TestDatabase) throws { try kind.conformance(dir).pausedAccountsAreNotClaimedAndShowInTheSnapshot() }
    @Test(arguments: kinds) func unansweredSpendsHoldTheirTokens(_ kind: TestDatabase) throws { try kind.conformance(dir).unansweredSpendsHoldTheirTokens() }
    @Test(arguments: kinds) func reservationsHoldUntilSettled(_ kind: TestDatabase) throws { try kind.conformance(dir).reservationsHoldUntilSettled() }
    @Test(arguments: kinds) func recoverySettlesADeadRunnersSpends(_ kind: TestDatabase) throws { try kind.conformance(dir).recoverySettlesADeadRunnersSpends() }
    @Test(arguments: kinds) func aRunnerDeclaredDeadIsFenced(_ kind: TestDatabase) throws { try kind.conformance(dir).aRunnerDeclaredDeadIsFenced() }
    @Test(arguments: kinds) func abandonedTriesCountAsAttempts(_ kind: TestDatabase) throws { try kind.conformance(dir).abandonedTriesCountAsAttempts() }
    @Test(arguments: kinds) func aLiveRunnersExpiredLeaseIsNotTaken(_ kind: TestDatabase) throws { try kind.conformance(dir).aLiveRunnersExpiredLeaseIsNotTaken() }
    @Test(arguments: kinds) func lateAnswersAreKept(_ kind: TestDatabase) throws { try kind.conformance(dir).lateAnswersAreKept() }
    @Test(arguments: kinds) func workAndDueInstants(_ kind: TestDatabase) throws { try kind.conformance(dir).workAndDueInstants() }
    @Test(arguments: kinds) func keysAreStoredWithTheCallAndUnique(_ kind: TestDatabase) throws { try kind.conformance(dir).keysAreStoredWithTheCallAndUnique() }
    @Test(arguments: kinds) func recoveryRequeuesKeyedOrders(_ kind: TestDatabase) throws { try kind.conformance(dir).recoveryRequeuesKeyedOrders() }
    @Test(arguments: kinds) func lookupsAreRemembered(_ kind: TestDatabase) throws { try kind.conformance(dir).lookupsAreRemembered() }
    @Test(arguments: kinds) func callsArePagedAndShown(_ kind: TestDatabase) throws { try kind.conformance(dir).callsArePagedAndShown() }
    @Test(arguments: kinds) func retriesPutFinalCallsBack(_ kind: TestDatabase) throws {
        try kind.conformance(dir).retriesPutFinalCallsBackAndRefuseWhatTheyShouldNot()
    }
    @Test(arguments: kinds) func cancelStopsWaitingCalls(_ kind: TestDatabase) throws {
        try kind.conformance(dir).cancelStopsWaitingCallsAndInFlightOnesAfterTheirTry()
    }
    @Test(arguments: kinds) func recoveryDoesNotBringBackACancelledRunsCalls(_ kind: TestDatabase) throws {
        try kind.conformance(dir).recoveryDoesNotBringBackACancelledRunsCalls()
    }
    @Test(arguments: kinds) func aBatchAnsweringACallTwiceIsWrittenInOrder(_ kind: TestDatabase) throws {
        try kind.conformance(dir).aBatchAnsweringACallTwiceIsWrittenInOrder()
    }
    @Test(arguments: kinds) func pruneDeletesOldFinishedRunsOnly(_ kind: TestDatabase) throws {
        try kind.conformance(dir).pruneDeletesOldFinishedRunsOnly()
    }
}

/// SQLite specifics of the guarantees: the indexes behind heartbeats, and the durable dispatch mark.
@Suite struct SQLiteGuaranteeTests {
    let dir = TempDir()
    var path: String { dir.url.appendingPathComponent("pacer.sqlite").path }

    /// Heartbeats and recovery find a runner's leased calls through an index, not by scanning `calls`.
    @Test func leaseLookupsUseAnIndex() throws {
        let store = try SQLiteStore(path: path)
        let plans = try store.pool.read { db in
            try ["SELECT id FROM calls WHERE lease_owner = 'r' AND state = 'in_flight'",
                 "UPDATE calls SET lease_expires_at = 1 WHERE lease_owner = 'r' AND state = 'in_flight'"].map { sql in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }.joined(separator: "; ")
            }
        }
        for plan in plans { #expect(plan.contains("calls_leased"), "\(plan)") }
    }

    /// The transaction that marks calls dispatched commits with `synchronous = FULL` (fsynced before the requests
    /// leave), and the connection goes back to `NORMAL` for everything else.
    @Test func theDispatchMarkIsDurable() throws {
        let store = try SQLiteStore(path: path)
        try store.addAccount(StoreConformance.account("acct"), replace: false, nowMilliseconds: 0)
        _ = try store.enqueue([RunToEnqueue(run: StoreConformance.run("j", "acct"), produceCalls: StoreConformance.calls(1))])
        try store.registerRunner(RunnerIdentity(id: "r1", host: "h", pid: 1), now: { 0 })
        let c = try store.claim(account: "acct", runner: "r1", nowMilliseconds: 0, leaseUntil: 30_000, max: 1)
        let levels = Mutex<[String]>([])
        store.pool.writeWithoutTransaction { db in
            db.trace { event in
                let sql = "\(event)"
                if sql.contains("synchronous") || sql.hasPrefix("COMMIT") { levels.withLock { $0.append(sql) } }
            }
        }
        _ = try store.spend(account: "acct", calls: c.map { ($0.id, 1) }, runner: "r1", now: { 0 },
                            windowMilliseconds: 1_000, configuredCount: 5)
        let seen = levels.withLock { $0 }
        let full = seen.firstIndex { $0.contains("synchronous = FULL") }
        let commit = seen.firstIndex { $0.hasPrefix("COMMIT") }
        let normal = seen.lastIndex { $0.contains("synchronous = NORMAL") }
        #expect(full != nil && commit != nil && normal != nil, "\(seen)")
        if let full, let commit, let normal { #expect(full < commit && commit < normal, "\(seen)") }
        let level = try store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(level == 1) // NORMAL
    }
}

@Suite struct SQLiteMigrationTests {
    let dir = TempDir()
    var path: String { dir.url.appendingPathComponent("pacer.sqlite").path }

    func appliedMigrations() throws -> [String] {
        let queue = try DatabaseQueue(path: path)
        return try queue.read { db in try String.fetchAll(db, sql: "SELECT name FROM pacer_migrations ORDER BY name") }
    }

    @Test func applyToAnEmptyDatabaseAndAreIdempotentOnReopen() throws {
        _ = try SQLiteStore(path: path)
        #expect(try appliedMigrations() == EmbeddedMigrations.all.map(\.name))
        let tables = try DatabaseQueue(path: path).read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
        #expect(Set(["accounts", "runs", "calls", "attempts", "results", "pacer_migrations"]).isSubset(of: tables))
        _ = try SQLiteStore(path: path)
        _ = try SQLiteStore(path: path)
        #expect(try appliedMigrations() == EmbeddedMigrations.all.map(\.name))
    }

    @Test func anOlderDatabaseIsUpgradedInOrder() throws {
        let pool = try DatabasePool(path: path)
        try SchemaMigrator(migrations: Array(EmbeddedMigrations.all.prefix(1))).migrate(pool, path: path)
        try pool.close()
        #expect(try appliedMigrations() == [EmbeddedMigrations.all[0].name])
        _ = try SQLiteStore(path: path)
        #expect(try appliedMigrations() == EmbeddedMigrations.all.map(\.name))
    }

    /// 0010 rebuilds `calls`, `attempts` and `results` (a CHECK constraint changes): a database written before it
    /// keeps every call, try and result, and its foreign keys.
    @Test func theCancelledStateMigrationKeepsEverything() throws {
        let pool = try DatabasePool(path: path)
        let before = Array(EmbeddedMigrations.all.prefix { $0.name < "0010" })
        try SchemaMigrator(migrations: before).migrate(pool, path: path)
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO accounts (name, provider, base_url, limit_count, limit_window_ms, created_at)
                VALUES ('a', 'kucoin', 'http://127.0.0.1:9', 10, 1000, 0);
                INSERT INTO runs (id, job, account, job_file, retry_attempts, backoff_min_ms, backoff_max_ms, created_at)
                VALUES (7, 'j', 'a', 'j.yaml', 3, 10, 100, 0);
                INSERT INTO calls (id, run_id, seq, account, method, path, params, state, attempts, call_key, keyed)
                VALUES (70, 7, 0, 'a', 'POST', '/o', '{}', 'failed', 1, 'k70', 1);
                INSERT INTO attempts (call_id, attempt, runner, started_at, classification) VALUES (70, 1, 'r', 5, 'permanent');
                INSERT INTO results (call_id, error, finished_at) VALUES (70, 'no', 6);
                """)
        }
        try pool.close()
        let store = try SQLiteStore(path: path)
        let detail = try #require(try store.callDetail(70))
        #expect(detail.record.state == .failed && detail.record.key == "k70" && detail.record.error == "no")
        #expect(detail.attempts.map(\.classification) == ["permanent"])
        #expect(try store.retry(run: 7, states: [.failed], nowMilliseconds: 10).calls == 1)
        try store.removeAccount(named: "a", purgeRuns: true) // cascades through the rebuilt tables
        let left = try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM calls) + (SELECT COUNT(*) FROM attempts)") }
        #expect(left == 0)
        let problems = try store.pool.read { db in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") }
        #expect(problems.isEmpty)
    }

    @Test func aRunKeepsItsJobsOnMap() throws {
        let store = try SQLiteStore(path: path)
        try store.addAccount(StoreConformance.account("acct"), replace: false, nowMilliseconds: 0)
        var run = StoreConformance.run("j", "acct")
        run.overrides = ["80003": "transient", "-110": "permanent"]
        _ = try store.enqueue([RunToEnqueue(run: run, produceCalls: StoreConformance.calls(1))])
        let stored = try store.pool.read { db in try String.fetchOne(db, sql: "SELECT overrides FROM runs") }
        #expect(stored == #"{"-110":"permanent","80003":"transient"}"#)
    }

    @Test func walModeAndForeignKeys() throws {
        let store = try SQLiteStore(path: path)
        let (mode, fk) = try store.pool.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA foreign_keys"))
        }
        #expect(mode == "wal")
        #expect(fk == 1)
    }

    @Test func aDatabaseFromANewerPacerIsRefused() throws {
        _ = try SQLiteStore(path: path)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "INSERT INTO pacer_migrations (name, applied_at) VALUES ('9999_from_the_future', 0)")
        }
        let error = try #require(throws: StoreError.self) { try SQLiteStore(path: path) }
        #expect(error.kind == .newerSchema)
        #expect(error.message.contains("its schema is at migration 9999_from_the_future"))
        #expect(error.message.contains("this pacer's schema ends at \(EmbeddedMigrations.all.last!.name)"))
        #expect(error.message.contains("newer Pacer"))
    }

    @Test func concurrentFirstOpensApplyTheSchemaOnce() throws {
        // Overlapping cron launches on a brand-new database: every opener succeeds, the schema is applied once.
        let path = self.path
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            do { _ = try SQLiteStore(path: path) } catch { failures.withLock { $0 += 1 } }
        }
        #expect(failures.withLock { $0 } == 0)
        #expect(try appliedMigrations() == EmbeddedMigrations.all.map(\.name))
    }

    @Test func embeddedMigrationsMatchTheFilesInMigrations() throws {
        let dir = repositoryRoot.appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.map { String($0.dropLast(4)) } == EmbeddedMigrations.all.map(\.name),
                "run scripts/embed-migrations.sh after adding a migration")
        for (file, embedded) in zip(files, EmbeddedMigrations.all) {
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            #expect(text.trimmingCharacters(in: .newlines) == embedded.sql.trimmingCharacters(in: .newlines),
                    "\(file) differs from its embedded copy: run scripts/embed-migrations.sh")
        }
    }
}


/// The database holds account data: it and its WAL and shared-memory files are private to their owner.
@Suite struct PrivateFileTests {
    func mode(_ path: String) -> mode_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_mode & 0o777 : nil
    }

    @Test func theDatabaseAndItsWALAreCreatedPrivate() throws {
        let dir = TempDir()
        let path = dir.url.appendingPathComponent("p.sqlite").path
        let old = umask(0o022) // a usual umask would leave them world-readable
        defer { umask(old) }
        let store = try SQLiteStore(path: path)
        try store.addAccount(StoreConformance.account("a"), replace: false, nowMilliseconds: 0)
        for file in [path, path + "-wal", path + "-shm"] {
            #expect(mode(file) == 0o600, "\(file): \(String(mode(file) ?? 0, radix: 8))")
        }
    }

    @Test func anExistingWorldReadableDatabaseIsNarrowed() throws {
        let dir = TempDir()
        let path = dir.url.appendingPathComponent("p.sqlite").path
        _ = try SQLiteStore(path: path)
        chmod(path, 0o644)
        for suffix in ["-wal", "-shm"] where mode(path + suffix) != nil { chmod(path + suffix, 0o644) }
        _ = try SQLiteStore(path: path)
        #expect(mode(path) == 0o600)
        for suffix in ["-wal", "-shm"] where mode(path + suffix) != nil { #expect(mode(path + suffix) == 0o600) }
    }
}
