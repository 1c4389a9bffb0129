-- Runner state: leases already live on calls; this adds what the limiter, pacing and crash recovery need.

-- Set in the same transaction that spends the limiter's tokens, right before the request leaves. A call that
-- was claimed but never dispatched can always go back to the queue; a dispatched non-idempotent call whose
-- runner died may have reached the provider, so it becomes `uncertain`.
ALTER TABLE calls ADD COLUMN dispatched_at INTEGER;
-- Classification of the latest try ('clock' lets the next clock error escalate instead of re-signing again).
ALTER TABLE calls ADD COLUMN last_class TEXT;

-- The limiter's log: every send still inside its account's window, across every process sharing the database.
-- `at` is first the moment the tokens were spent; when the answer comes back it moves to that moment, because
-- the provider saw the request somewhere in between and a token must stay spent a full window after that.
CREATE TABLE limiter_spends (
    id       INTEGER PRIMARY KEY,
    account  TEXT NOT NULL,
    call_id  INTEGER,
    at       INTEGER NOT NULL,
    weight   INTEGER NOT NULL
);
CREATE INDEX limiter_spends_account_at ON limiter_spends(account, at);
CREATE INDEX limiter_spends_call ON limiter_spends(call_id);

-- How hard each account is driven after the provider pushed back, and its clock offset.
CREATE TABLE account_pacing (
    account         TEXT PRIMARY KEY NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    ceiling         INTEGER,                      -- learned capacity per window; NULL = the configured count
    ceiling_at      INTEGER NOT NULL DEFAULT 0,
    cooldown_until  INTEGER NOT NULL DEFAULT 0,
    clock_offset_ms INTEGER NOT NULL DEFAULT 0    -- server time minus local time
);

-- Live runners, for leases and for spotting dead ones quickly (a stale heartbeat, or a gone local process).
CREATE TABLE runners (
    id           TEXT PRIMARY KEY NOT NULL,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);
