-- A cool-down after a refusal shown to be noise is half-open: one call may go as a probe from `probe_at`, and
-- its acceptance ends the cool-down (see `Pacing`). `probe_call` is the call sent as the probe, until its answer.
-- Whether a refusal was noise is told by what the provider accepted lately, across every runner: a spend settled
-- by an answer that was accepted (ok, duplicate) is marked. Others (refused, unsent, unanswered, failed, recovered,
-- reserved, another client's share) are not.
ALTER TABLE account_pacing ADD COLUMN IF NOT EXISTS probe_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_pacing ADD COLUMN IF NOT EXISTS probe_call BIGINT;
ALTER TABLE account_pacing ADD COLUMN IF NOT EXISTS refused_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE account_pacing ADD COLUMN IF NOT EXISTS probe_passed_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE limiter_spends ADD COLUMN IF NOT EXISTS accepted BOOLEAN NOT NULL DEFAULT FALSE;
-- A refusal's fill counts the spends sent in the window before it; `at` moves to the answer when a spend settles
-- (its token is held a window from then), so the send is kept beside it.
ALTER TABLE limiter_spends ADD COLUMN IF NOT EXISTS sent_at BIGINT;
