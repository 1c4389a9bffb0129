-- Due retries are claimed before calls never tried, so a bulk job's retries overlap its sending instead of
-- trailing after it (one at a time, each behind its back-off). Retrying calls are few: this index stays small.
CREATE INDEX IF NOT EXISTS calls_retrying ON calls(account, next_attempt_at, id) WHERE state = 'retrying';
