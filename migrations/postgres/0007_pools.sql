-- Pools (docs/pools.md): an account's limits as its provider defines them, limits shared across accounts, and
-- each call's pools and priority. The same change as SQLite's 0015_pools.
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS limits TEXT;
ALTER TABLE accounts ADD COLUMN IF NOT EXISTS shared TEXT;
CREATE TABLE IF NOT EXISTS shared_pools (
    name       TEXT PRIMARY KEY,
    limits     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
ALTER TABLE calls ADD COLUMN IF NOT EXISTS pools TEXT;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS calls_priority ON calls(account, priority DESC, next_attempt_at, id)
    WHERE state = 'queued' AND priority > 0;
-- Pacing rows are kept per pool (PoolKey), so they no longer reference accounts.
ALTER TABLE account_pacing DROP CONSTRAINT IF EXISTS account_pacing_account_fkey;
