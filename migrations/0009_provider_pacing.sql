-- Pacing that reads the provider (see Pacing in PacerCore): evidence before learning a lower limit, a hold that
-- grows with confirmations, and the limit the provider states in its headers.
ALTER TABLE account_pacing ADD COLUMN strikes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE account_pacing ADD COLUMN candidate_fill INTEGER;       -- isolated refusals' fills, awaiting a third
ALTER TABLE account_pacing ADD COLUMN candidate_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE account_pacing ADD COLUMN older_candidate_fill INTEGER;
ALTER TABLE account_pacing ADD COLUMN older_candidate_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE account_pacing ADD COLUMN reported_limit INTEGER;       -- NULL: the provider stated none below ours
-- The latest try of a call that may have reached the provider (no answer, a 5xx, its runner died): a later
-- "already done" answer (KuCoin 400100 on a cancel) then means that try did it.
ALTER TABLE calls ADD COLUMN maybe_done_by INTEGER;
