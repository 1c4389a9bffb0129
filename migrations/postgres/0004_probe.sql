-- A cool-down after a refusal shown to be noise is half-open: one call may go as a probe from `probe_at`, and
-- its acceptance ends the cool-down (see `Pacing`). `probe_call` is the call sent as the probe, until its answer.
-- Whether a cool-down's refusal was noise is told by what the provider accepted lately, across every runner:
-- settled spends whose call was refused (or never sent) are marked, and the rest were accepted.
ALTER TABLE account_pacing ADD COLUMN IF NOT EXISTS probe_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_pacing ADD COLUMN IF NOT EXISTS probe_call BIGINT;
ALTER TABLE account_pacing ADD COLUMN IF NOT EXISTS refused_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE limiter_spends ADD COLUMN IF NOT EXISTS refused BOOLEAN NOT NULL DEFAULT FALSE;
