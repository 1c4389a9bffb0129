-- The limiter's history, for the dashboard's charts (docs/operating.md). Runners write it in aggregate, never a
-- row per call: per account (and pool) and bucket of one window, the weight sent and the provider's rate-limit
-- refusals; and each cool-down, from when to when. Instants on the store's clock. `pacer prune` trims both, and
-- each `pacer run` what is older than a day (the dashboard shows at most a day).
CREATE TABLE limiter_history (
    account      TEXT NOT NULL,
    pool         TEXT NOT NULL DEFAULT 'default',
    bucket_start INTEGER NOT NULL,
    width_ms     INTEGER NOT NULL,
    sent         INTEGER NOT NULL DEFAULT 0,
    refused      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, bucket_start, pool)  -- an account's range of buckets, read by the dashboard
);
CREATE INDEX limiter_history_start ON limiter_history(bucket_start); -- trimming the oldest
CREATE TABLE cooldown_history (
    id       INTEGER PRIMARY KEY,
    account  TEXT NOT NULL,
    pool     TEXT NOT NULL DEFAULT 'default',
    from_at  INTEGER NOT NULL,
    until_at INTEGER NOT NULL
);
CREATE INDEX cooldown_history_account ON cooldown_history(account, until_at);
