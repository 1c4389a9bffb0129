-- Per-call dedupe keys ({{key}}, Contract 3). The key is made at enqueue and never changes, so every try of the
-- call carries the same one; `keyed` says it sits in the provider's dedupe field, which makes re-sending safe.
ALTER TABLE calls ADD COLUMN call_key TEXT;
ALTER TABLE calls ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
-- The provider answered "duplicate key" and the runner is looking the order up by its key before the call ends.
ALTER TABLE calls ADD COLUMN lookup_pending INTEGER NOT NULL DEFAULT 0;
-- Unique in the database, as DESIGN.md promises; a partial index, so calls without a key cost nothing.
CREATE UNIQUE INDEX calls_key ON calls(call_key) WHERE call_key IS NOT NULL;
