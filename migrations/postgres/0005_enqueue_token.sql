-- Each enqueue tags the runs it creates with a token of its own making: when the reply to its COMMIT is lost, it
-- asks (on a new connection) whether runs with that token exist, and so knows whether the enqueue landed instead
-- of reporting a failure for runs that were queued (and queuing them twice when run again).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS enqueue_token TEXT;
CREATE INDEX IF NOT EXISTS runs_enqueue_token ON runs(enqueue_token) WHERE enqueue_token IS NOT NULL;
