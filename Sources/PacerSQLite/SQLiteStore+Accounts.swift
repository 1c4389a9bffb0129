import GRDB
import PacerCore
import PacerStorage

extension SQLiteStore {
    public func addAccounts(_ accounts: [Account], replace: Bool, nowMilliseconds: Int64) throws(StoreError) {
        try storeCall {
            try writeImmediate { db in
                for account in accounts {
                    let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM accounts WHERE name = ?",
                                                   arguments: [account.name]) ?? false
                    if exists && !replace {
                        throw StoreError(.accountExists,
                                         "account '\(account.name)' exists; use --replace to change it")
                    }
                    for pool in account.limits.shared where try Bool.fetchOne(
                        db, sql: "SELECT 1 FROM shared_pools WHERE name = ?", arguments: [pool]) == nil {
                        throw StoreError(.unknownPool, "account '\(account.name)' names shared pool '\(pool)', which "
                                         + "does not exist; add it first with pacer pool add")
                    }
                    let c = account.credentials
                    // Upsert keeps runs that reference the account valid when it is replaced.
                    try db.execute(sql: """
                        INSERT INTO accounts (name, provider, base_url, limit_count, limit_window_ms, api_key, api_key_env,
                            secret_env, secret_file, passphrase_env, partner, broker_name, broker_key_env, created_at,
                            limits, shared)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT(name) DO UPDATE SET provider = excluded.provider, base_url = excluded.base_url,
                            limit_count = excluded.limit_count, limit_window_ms = excluded.limit_window_ms,
                            limits = excluded.limits, shared = excluded.shared,
                            api_key = excluded.api_key, api_key_env = excluded.api_key_env,
                            secret_env = excluded.secret_env, secret_file = excluded.secret_file,
                            passphrase_env = excluded.passphrase_env, partner = excluded.partner,
                            broker_name = excluded.broker_name, broker_key_env = excluded.broker_key_env,
                            paused_reason = NULL, paused_at = NULL
                        """, arguments: [account.name, account.provider.rawValue, account.baseURL, account.limit.count,
                                         account.limit.windowMilliseconds, c.key, c.keyEnv, c.secretEnv, c.secretFile,
                                         c.passphraseEnv, c.partner, c.brokerName, c.brokerKeyEnv, nowMilliseconds,
                                         AccountColumns.limits(account), AccountColumns.shared(account)])
                }
            }
        }
    }

    public func removeAccount(named name: String, purgeRuns: Bool) throws(StoreError) {
        try storeCall {
            try writeImmediate { db in
                guard try Bool.fetchOne(db, sql: "SELECT 1 FROM accounts WHERE name = ?", arguments: [name]) != nil else {
                    throw StoreError(.unknownAccount, "no account named '\(name)'")
                }
                let runs = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs WHERE account = ?",
                                            arguments: [name]) ?? 0
                if runs > 0 {
                    guard purgeRuns else {
                        throw StoreError(.accountInUse, "account '\(name)' has \(runs) run(s); "
                                         + "--purge removes them with their calls and results")
                    }
                    try db.execute(sql: "DELETE FROM runs WHERE account = ?", arguments: [name])
                }
                try db.execute(sql: "DELETE FROM accounts WHERE name = ?", arguments: [name])
                // Its pools' pacing (the default pool's row is keyed by its name, the others by NAME/POOL).
                try db.execute(sql: "DELETE FROM account_pacing WHERE account = ?1 OR substr(account, 1, length(?1) + 1) = ?1 || '/'",
                               arguments: [name])
            }
        }
    }

    public func addSharedPool(_ shared: SharedPool, replace: Bool, nowMilliseconds: Int64) throws(StoreError) {
        try storeCall {
            try writeImmediate { db in
                try db.execute(sql: """
                    INSERT INTO shared_pools (name, limits, created_at) VALUES (?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET limits = excluded.limits WHERE ?
                    """, arguments: [shared.name, shared.limitsText, nowMilliseconds, replace])
                if db.changesCount == 0 {
                    throw StoreError(.accountExists, "shared pool '\(shared.name)' exists; use --replace to change it")
                }
            }
        }
    }

    public func removeSharedPool(named name: String) throws(StoreError) {
        try storeCall {
            try writeImmediate { db in
                let naming = try Row.fetchAll(db, sql: "SELECT name, shared FROM accounts WHERE shared IS NOT NULL")
                let users = Self.accountsNaming(name, in: naming)
                guard users.isEmpty else {
                    throw StoreError(.poolInUse, "shared pool '\(name)' is named by account(s) \(users.joined(separator: ", ")); "
                                     + "change them first (account add --replace without --shared \(name))")
                }
                try db.execute(sql: "DELETE FROM shared_pools WHERE name = ?", arguments: [name])
                guard db.changesCount == 1 else { throw StoreError(.unknownPool, "no shared pool named '\(name)'") }
                try db.execute(sql: "DELETE FROM account_pacing WHERE account = ?", arguments: [PoolKey.shared(name)])
            }
        }
    }

    public func sharedPools() throws(StoreError) -> [SharedPool] {
        try storeCall {
            try pool.read { db in
                let naming = try Row.fetchAll(db, sql: "SELECT name, shared FROM accounts WHERE shared IS NOT NULL")
                return try Row.fetchAll(db, sql: "SELECT name, limits FROM shared_pools ORDER BY name").map { row in
                    let name: String = row["name"]
                    return SharedPool(name: name, windows: try AccountColumns.windows(pool: name, text: row["limits"]),
                                      accounts: Self.accountsNaming(name, in: naming))
                }
            }
        }
    }

    /// The accounts (rows of name and shared) that name shared pool `pool`.
    static func accountsNaming(_ pool: String, in rows: [Row]) -> [String] {
        rows.filter { ($0["shared"] as String? ?? "").split(separator: ";").contains { $0 == pool } }.map { $0["name"] }
    }

    public func accounts() throws(StoreError) -> [Account] {
        try storeCall {
            try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM accounts ORDER BY name").map(Self.account(from:))
            }
        }
    }

    public func account(named name: String) throws(StoreError) -> Account? {
        try storeCall {
            try pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM accounts WHERE name = ?", arguments: [name])
                    .map(Self.account(from:))
            }
        }
    }

    static func account(from row: Row) throws -> Account {
        guard let provider = Provider(rawValue: row["provider"]) else {
            throw StoreError(.database, "account '\(row["name"] as String)' has an unknown provider")
        }
        return Account(
            name: row["name"], provider: provider, baseURL: row["base_url"],
            limits: try AccountColumns.limits(name: row["name"], text: row["limits"], shared: row["shared"],
                                              count: row["limit_count"], windowMilliseconds: row["limit_window_ms"]),
            credentials: CredentialReferences(
                key: row["api_key"], keyEnv: row["api_key_env"], secretEnv: row["secret_env"],
                secretFile: row["secret_file"], passphraseEnv: row["passphrase_env"], partner: row["partner"],
                brokerName: row["broker_name"], brokerKeyEnv: row["broker_key_env"]),
            pausedReason: row["paused_reason"])
    }
}
