-- The outbox of state-change messages (#17): every change of a compose's
-- state, its creation included, is recorded here by a trigger, in the
-- transaction that changes it, with the columns a state change moves; the
-- sender publishes the rows in id order and deletes each once the broker
-- confirmed it. A broker that is down loses nothing; a row that failed
-- counts its attempts and keeps the last error.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    compose_id BIGINT NOT NULL,
    state BIGINT NOT NULL,
    state_reason TEXT,
    source TEXT NOT NULL,
    time_started BIGINT,
    time_done BIGINT,
    time_removed BIGINT,
    time_to_expire BIGINT NOT NULL,
    removed_by TEXT,
    reused_id BIGINT,
    pungi_compose_id TEXT,
    koji_event BIGINT,
    -- when the change was recorded, in milliseconds (the database's clock)
    queued_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);

CREATE TRIGGER outbox_on_insert AFTER INSERT ON composes
BEGIN
    INSERT INTO outbox (compose_id, state, state_reason, source, time_started, time_done, time_removed, time_to_expire, removed_by, reused_id, pungi_compose_id, koji_event, queued_ms)
    VALUES (NEW.id, NEW.state, NEW.state_reason, NEW.source, NEW.time_started, NEW.time_done, NEW.time_removed, NEW.time_to_expire, NEW.removed_by, NEW.reused_id, NEW.pungi_compose_id, NEW.koji_event, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
END;

CREATE TRIGGER outbox_on_state AFTER UPDATE OF state ON composes
WHEN NEW.state <> OLD.state
BEGIN
    INSERT INTO outbox (compose_id, state, state_reason, source, time_started, time_done, time_removed, time_to_expire, removed_by, reused_id, pungi_compose_id, koji_event, queued_ms)
    VALUES (NEW.id, NEW.state, NEW.state_reason, NEW.source, NEW.time_started, NEW.time_done, NEW.time_removed, NEW.time_to_expire, NEW.removed_by, NEW.reused_id, NEW.pungi_compose_id, NEW.koji_event, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
END;
