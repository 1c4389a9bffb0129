-- Pools (docs/pools.md): an account's limits as its provider defines them, limits shared across accounts, and
-- each call's pools and priority.
-- Every `--limit` of an account, `10/1s;100/20s;spot=40/3s` (NULL: limit_count/limit_window_ms alone, as before),
-- and the shared pools it draws from, `office-ip;quota` (NULL: none). limit_count/limit_window_ms keep the
-- account's primary limit (AccountLimits.primary) for readers that show one.
ALTER TABLE accounts ADD COLUMN limits TEXT;
ALTER TABLE accounts ADD COLUMN shared TEXT;

-- Pools several accounts draw from (`pacer pool add`): an egress IP, a provider-wide quota.
CREATE TABLE shared_pools (
    name       TEXT PRIMARY KEY NOT NULL,
    limits     TEXT NOT NULL,                 -- `30/1s;1000/1m`
    created_at INTEGER NOT NULL
);

-- The pools a call asks for (PoolDemand's text; NULL: the default pool), resolved against its account's pools
-- when it is spent; and its run's priority (higher first, `priority:` in a job file).
ALTER TABLE calls ADD COLUMN pools TEXT;
ALTER TABLE calls ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX calls_priority ON calls(account, priority DESC, next_attempt_at) WHERE state = 'queued' AND priority > 0;

-- Pacing is kept per pool (the key is PoolKey: the account's name for its default pool, ACCOUNT/NAME, @SHARED),
-- so its rows no longer reference accounts; removing an account deletes its pools' rows.
CREATE TABLE account_pacing_new (
    account              TEXT PRIMARY KEY NOT NULL,
    ceiling              INTEGER,
    ceiling_at           INTEGER NOT NULL DEFAULT 0,
    cooldown_until       INTEGER NOT NULL DEFAULT 0,
    clock_offset_ms      INTEGER NOT NULL DEFAULT 0,
    strikes              INTEGER NOT NULL DEFAULT 0,
    candidate_fill       INTEGER,
    candidate_at         INTEGER NOT NULL DEFAULT 0,
    older_candidate_fill INTEGER,
    older_candidate_at   INTEGER NOT NULL DEFAULT 0,
    reported_limit       INTEGER,
    probe_at             INTEGER NOT NULL DEFAULT 0,
    probe_call           INTEGER,
    refused_at           INTEGER NOT NULL DEFAULT 0,
    probe_passed_at      INTEGER NOT NULL DEFAULT 0
);
INSERT INTO account_pacing_new (account, ceiling, ceiling_at, cooldown_until, clock_offset_ms, strikes, candidate_fill,
                                candidate_at, older_candidate_fill, older_candidate_at, reported_limit, probe_at,
                                probe_call, refused_at, probe_passed_at)
    SELECT account, ceiling, ceiling_at, cooldown_until, clock_offset_ms, strikes, candidate_fill, candidate_at,
           older_candidate_fill, older_candidate_at, reported_limit, probe_at, probe_call, refused_at, probe_passed_at
    FROM account_pacing;
DROP TABLE account_pacing;
ALTER TABLE account_pacing_new RENAME TO account_pacing;
