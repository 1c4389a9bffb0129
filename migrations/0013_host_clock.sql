-- The anchor of the host's steady clock (HostClock in PacerSQLite; docs/internals.md, "Time"). The first process
-- to open the database on a boot of the host records wall time minus CLOCK_BOOTTIME; every process of that boot
-- reads "now" as CLOCK_BOOTTIME plus this offset, which no step of the wall clock moves. One row: the latest boot.
-- `latest_ms` is the latest instant a runner's heartbeat read on it: the next boot's clock starts after it.
CREATE TABLE host_clock (
    boot_id   TEXT PRIMARY KEY NOT NULL,
    offset_ms INTEGER NOT NULL,
    latest_ms INTEGER NOT NULL DEFAULT 0
);
