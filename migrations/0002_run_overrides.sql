-- A job's `on:` map (provider code -> classification), kept with its run so the runner classifies answers the
-- way the job asked even if the job file changes later. Compact JSON object; NULL when the job has none.
ALTER TABLE runs ADD COLUMN overrides TEXT;
