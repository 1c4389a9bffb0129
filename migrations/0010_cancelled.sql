-- Operating runs (Contract 3): a new final state, `cancelled` (`pacer cancel`), and the run's cancellation
-- (`runs.cancelled_at`), so a call of a cancelled run that was in flight ends `cancelled` instead of being tried
-- again.
--
-- SQLite cannot change a CHECK constraint in place: `calls` is rebuilt with the new state allowed, and `runs`,
-- `attempts` and `results` with it (they reference each other; dropping an old table first would cascade into the
-- others). Each new table references the other new ones, which the renames turn into the usual names. `runs` and
-- `calls` get AUTOINCREMENT on the way: `pacer prune` deletes the newest runs too, and their ids must never be
-- handed out again (a script's `pacer retry 41`, a late answer for a deleted call).
-- Upgrade with every `pacer run` stopped: the rebuild copies every call under the write lock.
CREATE TABLE runs_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    job             TEXT NOT NULL,
    account         TEXT NOT NULL REFERENCES accounts(name) ON DELETE RESTRICT,
    job_file        TEXT NOT NULL,
    call_count      INTEGER NOT NULL DEFAULT 0,
    retry_attempts  INTEGER NOT NULL CHECK (retry_attempts >= 1),
    backoff_min_ms  INTEGER NOT NULL,
    backoff_max_ms  INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    overrides       TEXT,
    schedule_tick   INTEGER,
    cancelled_at    INTEGER
);
INSERT INTO runs_new (id, job, account, job_file, call_count, retry_attempts, backoff_min_ms, backoff_max_ms,
                      created_at, overrides, schedule_tick)
SELECT id, job, account, job_file, call_count, retry_attempts, backoff_min_ms, backoff_max_ms, created_at, overrides,
       schedule_tick
FROM runs;

CREATE TABLE calls_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id           INTEGER NOT NULL REFERENCES runs_new(id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    account          TEXT NOT NULL,
    method           TEXT NOT NULL CHECK (method IN ('GET', 'POST', 'DELETE', 'PUT')),
    path             TEXT NOT NULL,
    params           TEXT NOT NULL,
    body             TEXT,
    weight           INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 1),
    idempotent       INTEGER NOT NULL DEFAULT 1,
    state            TEXT NOT NULL DEFAULT 'queued' CHECK (state IN
                         ('queued', 'in_flight', 'retrying', 'succeeded', 'failed', 'dead', 'uncertain', 'duplicate',
                          'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    dispatched_at    INTEGER,
    last_class       TEXT,
    call_key         TEXT,
    keyed            INTEGER NOT NULL DEFAULT 0,
    lookup_pending   INTEGER NOT NULL DEFAULT 0,
    maybe_done_by    INTEGER
);
INSERT INTO calls_new (id, run_id, seq, account, method, path, params, body, weight, idempotent, state, attempts,
                       next_attempt_at, lease_owner, lease_expires_at, dispatched_at, last_class, call_key, keyed,
                       lookup_pending, maybe_done_by)
SELECT id, run_id, seq, account, method, path, params, body, weight, idempotent, state, attempts, next_attempt_at,
       lease_owner, lease_expires_at, dispatched_at, last_class, call_key, keyed, lookup_pending, maybe_done_by
FROM calls;

CREATE TABLE attempts_new (
    id              INTEGER PRIMARY KEY,
    call_id         INTEGER NOT NULL REFERENCES calls_new(id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    runner          TEXT NOT NULL,
    started_at      INTEGER NOT NULL,
    latency_ms      INTEGER,
    http_status     INTEGER,
    code            TEXT,
    classification  TEXT NOT NULL,
    message         TEXT
);
INSERT INTO attempts_new SELECT id, call_id, attempt, runner, started_at, latency_ms, http_status, code, classification,
                                message FROM attempts;

CREATE TABLE results_new (
    call_id         INTEGER PRIMARY KEY REFERENCES calls_new(id) ON DELETE CASCADE,
    http_status     INTEGER,
    code            TEXT,
    data            TEXT,
    error           TEXT,
    finished_at     INTEGER NOT NULL
);
INSERT INTO results_new SELECT call_id, http_status, code, data, error, finished_at FROM results;

DROP TABLE results;
DROP TABLE attempts;
DROP TABLE calls;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
ALTER TABLE calls_new RENAME TO calls;
ALTER TABLE attempts_new RENAME TO attempts;
ALTER TABLE results_new RENAME TO results;
-- Ids pruned before this upgrade cannot be known any more; the limiter's log still names the newest calls sent.
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT MAX(call_id) FROM limiter_spends), 0)) WHERE name = 'calls';

CREATE INDEX runs_job_created ON runs(job, created_at);
CREATE INDEX runs_job_account_created ON runs(job, account, created_at);
CREATE UNIQUE INDEX runs_schedule_tick ON runs(job, account, schedule_tick) WHERE schedule_tick IS NOT NULL;
CREATE INDEX calls_run_state ON calls(run_id, state);
CREATE INDEX calls_runnable ON calls(account, next_attempt_at) WHERE state IN ('queued', 'retrying');
CREATE INDEX calls_leased ON calls(lease_owner) WHERE state = 'in_flight';
CREATE UNIQUE INDEX calls_key ON calls(call_key) WHERE call_key IS NOT NULL;
CREATE INDEX attempts_call ON attempts(call_id);
-- `prune` finds runs by when their last call ended.
CREATE INDEX results_finished ON results(finished_at);
