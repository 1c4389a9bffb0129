import PacerCore
import PacerStorage
import PostgresNIO

/// Accounts and schedules.
extension PostgresStore {
    public func addAccounts(_ accounts: [Account], replace: Bool, nowMilliseconds: Int64) throws(StoreError) {
        try typed { try transaction { tx in
            let named = Set(accounts.flatMap(\.limits.shared))
            if !named.isEmpty {
                // FOR SHARE: a pool named here cannot be removed before this commits.
                let known = Set(try tx.rows("SELECT name FROM shared_pools WHERE name = ANY(\(Array(named))::text[]) FOR SHARE")
                    .map { try $0.get("name", as: String.self) })
                for account in accounts {
                    for pool in account.limits.shared where !known.contains(pool) {
                        throw StoreError(.unknownPool, "account '\(account.name)' names shared pool '\(pool)', which "
                                         + "does not exist; add it first with pacer pool add")
                    }
                }
            }
            for account in accounts {
                let c = account.credentials
                let inserted = try tx.execute("""
                    INSERT INTO accounts (name, provider, base_url, limit_count, limit_window_ms, api_key, api_key_env,
                        secret_env, secret_file, passphrase_env, partner, broker_name, broker_key_env, created_at,
                        limits, shared)
                    VALUES (\(account.name), \(account.provider.rawValue), \(account.baseURL), \(Int64(account.limit.count)),
                            \(account.limit.windowMilliseconds), \(c.key), \(c.keyEnv), \(c.secretEnv), \(c.secretFile),
                            \(c.passphraseEnv), \(c.partner), \(c.brokerName), \(c.brokerKeyEnv), \(nowMilliseconds),
                            \(AccountColumns.limits(account)), \(AccountColumns.shared(account)))
                    ON CONFLICT (name) DO UPDATE SET provider = excluded.provider, base_url = excluded.base_url,
                        limit_count = excluded.limit_count, limit_window_ms = excluded.limit_window_ms,
                        limits = excluded.limits, shared = excluded.shared,
                        api_key = excluded.api_key, api_key_env = excluded.api_key_env,
                        secret_env = excluded.secret_env, secret_file = excluded.secret_file,
                        passphrase_env = excluded.passphrase_env, partner = excluded.partner,
                        broker_name = excluded.broker_name, broker_key_env = excluded.broker_key_env,
                        paused_reason = NULL, paused_at = NULL
                    WHERE \(replace)
                    """)
                // Without --replace an existing name changes nothing (the conflict's WHERE) and is refused; the
                // insert and the check are one statement, so two machines adding the same name cannot both succeed.
                if !replace && inserted == 0 {
                    throw StoreError(.accountExists, "account '\(account.name)' exists; use --replace to change it")
                }
            }
        } }
    }

    public func removeAccount(named name: String, purgeRuns: Bool) throws(StoreError) {
        try typed { try transaction { tx in
            guard try tx.row("SELECT 1 FROM accounts WHERE name = \(name) FOR UPDATE") != nil else {
                throw StoreError(.unknownAccount, "no account named '\(name)'")
            }
            let runs = try tx.value("SELECT COUNT(*) FROM runs WHERE account = \(name)", as: Int.self) ?? 0
            if runs > 0 {
                guard purgeRuns else {
                    throw StoreError(.accountInUse, "account '\(name)' has \(runs) run(s); "
                                     + "--purge removes them with their calls and results")
                }
                try tx.execute("DELETE FROM runs WHERE account = \(name)")
            }
            try tx.execute("DELETE FROM accounts WHERE name = \(name)")
            // Its pools' pacing (the default pool's row is keyed by its name, the others by NAME/POOL).
            try tx.execute("""
                DELETE FROM account_pacing WHERE account = \(name) OR left(account, length(\(name)) + 1) = \(name) || '/'
                """)
        } }
    }

    public func addSharedPool(_ shared: SharedPool, replace: Bool, nowMilliseconds: Int64) throws(StoreError) {
        try typed { try transaction { tx in
            let written = try tx.execute("""
                INSERT INTO shared_pools (name, limits, created_at) VALUES (\(shared.name), \(shared.limitsText), \(nowMilliseconds))
                ON CONFLICT (name) DO UPDATE SET limits = excluded.limits WHERE \(replace)
                """)
            if written == 0 {
                throw StoreError(.accountExists, "shared pool '\(shared.name)' exists; use --replace to change it")
            }
        } }
    }

    public func removeSharedPool(named name: String) throws(StoreError) {
        try typed { try transaction { tx in
            guard try tx.row("SELECT 1 FROM shared_pools WHERE name = \(name) FOR UPDATE") != nil else {
                throw StoreError(.unknownPool, "no shared pool named '\(name)'")
            }
            let users = try tx.rows("""
                SELECT name FROM accounts WHERE \(name) = ANY(string_to_array(shared, ';')) ORDER BY name
                """).map { try $0.get("name", as: String.self) }
            guard users.isEmpty else {
                throw StoreError(.poolInUse, "shared pool '\(name)' is named by account(s) \(users.joined(separator: ", ")); "
                                 + "change them first (account add --replace without --shared \(name))")
            }
            try tx.execute("DELETE FROM shared_pools WHERE name = \(name)")
            try tx.execute("DELETE FROM account_pacing WHERE account = \(PoolKey.shared(name))")
        } }
    }

    public func sharedPools() throws(StoreError) -> [SharedPool] {
        try typed { try read { tx in
            try tx.rows("""
                SELECT p.name, p.limits,
                       ARRAY(SELECT a.name FROM accounts a WHERE p.name = ANY(string_to_array(a.shared, ';'))
                             ORDER BY a.name) AS users
                FROM shared_pools p ORDER BY p.name
                """).map { row in
                let name = try row.get("name", as: String.self)
                return SharedPool(name: name, windows: try AccountColumns.windows(pool: name, text: try row.get("limits")),
                                  accounts: try row.get("users", as: [String].self))
            }
        } }
    }

    public func accounts() throws(StoreError) -> [Account] {
        try typed { try read { tx in try tx.rows("SELECT * FROM accounts ORDER BY name").map(Self.account(from:)) } }
    }

    public func account(named name: String) throws(StoreError) -> Account? {
        try typed { try read { tx in try tx.row("SELECT * FROM accounts WHERE name = \(name)").map(Self.account(from:)) } }
    }

    static func account(from row: PostgresRandomAccessRow) throws -> Account {
        let name = try row.get("name", as: String.self)
        guard let provider = Provider(rawValue: try row.get("provider", as: String.self)) else {
            throw StoreError(.database, "account '\(name)' has an unknown provider")
        }
        return Account(
            name: name, provider: provider, baseURL: try row.get("base_url"),
            limits: try AccountColumns.limits(name: name, text: try row.get("limits"), shared: try row.get("shared"),
                                              count: try row.get("limit_count", as: Int.self),
                                              windowMilliseconds: try row.get("limit_window_ms")),
            credentials: CredentialReferences(
                key: try row.get("api_key"), keyEnv: try row.get("api_key_env"), secretEnv: try row.get("secret_env"),
                secretFile: try row.get("secret_file"), passphraseEnv: try row.get("passphrase_env"),
                partner: try row.get("partner"), brokerName: try row.get("broker_name"),
                brokerKeyEnv: try row.get("broker_key_env")),
            pausedReason: try row.get("paused_reason"))
    }

    @discardableResult
    public func pauseAccount(_ name: String, reason: String, nowMilliseconds: Int64) throws -> Bool {
        try transaction { tx in
            let now = try tx.now(caller: nowMilliseconds).now
            return try tx.execute("""
                UPDATE accounts SET paused_reason = \(reason), paused_at = \(now) WHERE name = \(name) AND paused_reason IS NULL
                """) == 1
        }
    }

    public func resumeAccount(_ name: String) throws {
        try transaction { tx in
            guard try tx.execute("UPDATE accounts SET paused_reason = NULL, paused_at = NULL WHERE name = \(name)") == 1 else {
                throw StoreError(.unknownAccount, "no account named '\(name)'")
            }
            // Its queued calls are runnable again: idle runners look for due calls now, not at their backstop.
            try tx.announceWork()
        }
    }

    // MARK: Schedules

    public func addSchedule(_ schedule: ScheduleRecord) throws {
        try transaction { tx in
            try tx.execute("""
                INSERT INTO schedules (job, file, source, registered_at, last_tick, missed_ticks, last_error)
                VALUES (\(schedule.job), \(schedule.file), \(schedule.source), \(schedule.registeredAt), NULL, 0, NULL)
                ON CONFLICT (job) DO UPDATE SET file = excluded.file, source = excluded.source, last_error = NULL
                """)
        }
    }

    public func removeSchedule(job: String) throws(StoreError) {
        try typed { try transaction { tx in
            guard try tx.execute("DELETE FROM schedules WHERE job = \(job)") == 1 else {
                throw StoreError(.unknownAccount, "no schedule for job '\(job)'")
            }
        } }
    }

    public func schedules() throws -> [ScheduleRecord] {
        try read { tx in
            try tx.rows("SELECT * FROM schedules ORDER BY job").map { row in
                ScheduleRecord(job: try row.get("job"), file: try row.get("file"), source: try row.get("source"),
                               registeredAt: try row.get("registered_at"), lastTick: try row.get("last_tick"),
                               missedTicks: try row.get("missed_ticks"), lastError: try row.get("last_error"))
            }
        }
    }

    public func updateSchedule(job: String, lastTick: Int64?, addMissed: Int, lastError: String?, source: String?) throws {
        try transaction { tx in
            try tx.execute("""
                UPDATE schedules SET last_tick = GREATEST(COALESCE(last_tick, 0), COALESCE(\(lastTick)::bigint, 0)),
                    missed_ticks = missed_ticks + \(Int64(addMissed)), last_error = \(lastError),
                    source = COALESCE(\(source)::text, source)
                WHERE job = \(job)
                """)
        }
    }
}
