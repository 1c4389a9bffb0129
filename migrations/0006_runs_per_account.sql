-- Jobs over many accounts (`accounts:` globs, `account: "{{item.account}}"`): one job makes one run per account,
-- so a scheduled tick is unique per job *and account*, not per job.
DROP INDEX runs_schedule_tick;
CREATE UNIQUE INDEX runs_schedule_tick ON runs(job, account, schedule_tick) WHERE schedule_tick IS NOT NULL;
CREATE INDEX runs_job_account_created ON runs(job, account, created_at);
