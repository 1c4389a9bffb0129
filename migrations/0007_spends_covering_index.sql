-- A spend sums the weights its account holds inside the window. With the weight and the open flag in the index,
-- that sum reads the index alone instead of visiting a table row per spend (thousands per window for a big-N
-- account).
DROP INDEX limiter_spends_account_at;
CREATE INDEX limiter_spends_account_at ON limiter_spends(account, at, open, weight);
-- The open spends' sum likewise reads its partial index alone.
DROP INDEX limiter_spends_open;
CREATE INDEX limiter_spends_open ON limiter_spends(account, weight) WHERE open = 1;
