-- Operating runs (Contract 3): the final state `cancelled` (`pacer cancel`) and the run's cancellation, so a call
-- of a cancelled run that was in flight ends cancelled instead of being tried again; and an index that pages a
-- run's calls in order (`results`, the dashboard).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS cancelled_at BIGINT;
ALTER TABLE calls DROP CONSTRAINT IF EXISTS calls_state_check;
ALTER TABLE calls ADD CONSTRAINT calls_state_check CHECK (state IN
    ('queued', 'in_flight', 'retrying', 'succeeded', 'failed', 'dead', 'uncertain', 'duplicate', 'cancelled'));
CREATE INDEX IF NOT EXISTS calls_run_seq ON calls(run_id, seq, id);
