-- A job that failed for a reason other than its compose (a database error,
-- a worker that stopped) is queued again after a pause (`retry_at_ms`, on the
-- database's clock) a bounded number of times; `last_error` keeps why, so the
-- compose's reason can say it when the job gives up.
ALTER TABLE jobs ADD COLUMN retry_at_ms BIGINT;
ALTER TABLE jobs ADD COLUMN last_error TEXT;

-- Work that one process of all does at a time (the reaper): a named lease
-- held by `holder` until `until_ms` (the database's clock).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
