-- Pacer schema, version 1. Shipped migrations are never edited: add 0002_..., 0003_... instead.
-- Times are milliseconds since the Unix epoch (UTC) in INTEGER columns.

-- Provider accounts. Credentials are stored only as references (an environment variable's name or a file's
-- path): the secret, passphrase and broker key themselves never reach the database.
CREATE TABLE accounts (
    name            TEXT PRIMARY KEY NOT NULL,
    provider        TEXT NOT NULL CHECK (provider IN ('kookeey', 'kucoin', 'bitunix', 'bitz')),
    base_url        TEXT NOT NULL,
    limit_count     INTEGER NOT NULL CHECK (limit_count > 0),
    limit_window_ms INTEGER NOT NULL CHECK (limit_window_ms > 0),
    api_key         TEXT,            -- the key is an identifier, not a secret
    api_key_env     TEXT,
    secret_env      TEXT,
    secret_file     TEXT,
    passphrase_env  TEXT,
    partner         TEXT,
    broker_name     TEXT,
    broker_key_env  TEXT,
    paused_reason   TEXT,            -- set when the runner pauses the account (auth errors); NULL when active
    paused_at       INTEGER,
    created_at      INTEGER NOT NULL
);

-- One run per enqueued job file.
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    job             TEXT NOT NULL,
    account         TEXT NOT NULL REFERENCES accounts(name) ON DELETE RESTRICT,
    job_file        TEXT NOT NULL,
    call_count      INTEGER NOT NULL DEFAULT 0,
    retry_attempts  INTEGER NOT NULL CHECK (retry_attempts >= 1),
    backoff_min_ms  INTEGER NOT NULL,
    backoff_max_ms  INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX runs_job_created ON runs(job, created_at);

-- One row per call. Timestamps, nonces and signatures are not here: they are made when the call is sent.
CREATE TABLE calls (
    id               INTEGER PRIMARY KEY,
    run_id           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,                    -- position in the run; {{index}}
    account          TEXT NOT NULL,                       -- copied from the run so claims need no join
    method           TEXT NOT NULL CHECK (method IN ('GET', 'POST', 'DELETE', 'PUT')),
    path             TEXT NOT NULL,
    params           TEXT NOT NULL,                       -- compact JSON object, members in job-file order
    body             TEXT,                                -- compact JSON, when the job gives `body:`
    weight           INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 1),
    idempotent       INTEGER NOT NULL DEFAULT 1,
    state            TEXT NOT NULL DEFAULT 'queued' CHECK (state IN
                         ('queued', 'in_flight', 'retrying', 'succeeded', 'failed', 'dead', 'uncertain', 'duplicate')),
    attempts         INTEGER NOT NULL DEFAULT 0,          -- tries that counted (rate-limit deferrals do not)
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at INTEGER
);
-- Status counts per run and state, read from the index alone.
CREATE INDEX calls_run_state ON calls(run_id, state);
-- The runner's claim query: runnable calls of an account, soonest first. Partial, so finished calls cost nothing.
CREATE INDEX calls_runnable ON calls(account, next_attempt_at) WHERE state IN ('queued', 'retrying');

-- Every try of every call, for diagnosis.
CREATE TABLE attempts (
    id              INTEGER PRIMARY KEY,
    call_id         INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    runner          TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    latency_ms      INTEGER,
    http_status     INTEGER,
    code            TEXT,
    classification  TEXT NOT NULL,
    message         TEXT
);
CREATE INDEX attempts_call ON attempts(call_id);

-- The final outcome of a call, written once when it reaches a terminal state.
CREATE TABLE results (
    call_id         INTEGER PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    http_status     INTEGER,
    code            TEXT,
    data            TEXT,                                 -- the provider's payload, JSON text
    error           TEXT,
    finished_at     INTEGER NOT NULL
);
