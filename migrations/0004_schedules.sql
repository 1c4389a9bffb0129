-- Recurring jobs (`pacer schedule add`), ticked by `pacer run` without --drain.
CREATE TABLE schedules (
    job            TEXT PRIMARY KEY NOT NULL,
    file           TEXT NOT NULL,          -- the job file, re-read at each tick
    source         TEXT NOT NULL,          -- its text as last parsed successfully: the schedule's last good version
    registered_at  INTEGER NOT NULL,
    last_tick      INTEGER,                -- the latest tick a run was enqueued for (ms, a minute boundary)
    missed_ticks   INTEGER NOT NULL DEFAULT 0,  -- ticks skipped because nothing ran at the time (only the latest runs)
    last_error     TEXT                    -- why the file on disk was refused at the last tick, if it was
);

-- A scheduled run records its tick; the unique index makes "enqueue this tick" happen at most once however many
-- runners try at the same moment.
ALTER TABLE runs ADD COLUMN schedule_tick INTEGER;
CREATE UNIQUE INDEX runs_schedule_tick ON runs(job, schedule_tick) WHERE schedule_tick IS NOT NULL;
