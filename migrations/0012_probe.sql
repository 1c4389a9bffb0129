-- A cool-down after a refusal shown to be noise is half-open: one call may go as a probe from `probe_at`, and
-- its acceptance ends the cool-down (see `Pacing`). `probe_call` is the call sent as the probe, until its answer.
ALTER TABLE account_pacing ADD COLUMN probe_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE account_pacing ADD COLUMN probe_call INTEGER;
