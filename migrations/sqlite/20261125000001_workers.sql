-- Workers that have run against this database, for the metrics: each
-- records when it was last seen (milliseconds on the database's clock) and,
-- when it stopped cleanly, when it stopped.

CREATE TABLE workers (
    name TEXT PRIMARY KEY,
    last_seen_ms INTEGER NOT NULL,
    stopped_ms INTEGER
);
